/**
 * A small SVG writer for `npm run bench`: one panel per measure (rps as a ratio to bare Apollo,
 * p99 latency, peak RSS), grouped bars per workload, one colour per gateway, each bar labelled
 * with its value. No browser and no library: the markup is a few rectangles and texts.
 */
export interface ChartPanel {
  title: string;
  /** Formats a bar's value for its label. */
  format(value: number): string;
  /** A reference line (1.0× for ratios), if any. */
  reference?: number | undefined;
  /** values[workload][gateway]; NaN is a failed measurement, drawn as "FAILED". */
  values: number[][];
}

const COLOURS = ['#8c8c8c', '#2f6fdf', '#e0802a', '#3a9d5d', '#a04fc0'];
const WIDTH = 900;
const PANEL_HEIGHT = 230;
const LEFT = 60;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panel(p: ChartPanel, workloads: string[], gateways: string[], top: number): string[] {
  const out: string[] = [`<text x="${LEFT}" y="${top + 16}" font-size="14" font-weight="bold">${escape(p.title)}</text>`];
  const finite = p.values.flat().filter(Number.isFinite);
  const max = Math.max(p.reference ?? 0, ...finite) * 1.15 || 1;
  const plotTop = top + 30;
  const plotHeight = PANEL_HEIGHT - 70;
  const y = (v: number) => plotTop + plotHeight - (v / max) * plotHeight;
  const groupWidth = (WIDTH - LEFT - 20) / workloads.length;
  const barWidth = Math.min(50, (groupWidth - 30) / gateways.length);
  out.push(`<line x1="${LEFT}" y1="${plotTop + plotHeight}" x2="${WIDTH - 20}" y2="${plotTop + plotHeight}" stroke="#333"/>`);
  if (p.reference !== undefined) {
    out.push(
      `<line x1="${LEFT}" y1="${y(p.reference)}" x2="${WIDTH - 20}" y2="${y(p.reference)}" stroke="#888" stroke-dasharray="4 3"/>`,
      `<text x="${LEFT - 6}" y="${y(p.reference) + 4}" font-size="11" text-anchor="end">${escape(p.format(p.reference))}</text>`,
    );
  }
  workloads.forEach((workload, w) => {
    const groupLeft = LEFT + w * groupWidth + (groupWidth - barWidth * gateways.length) / 2;
    gateways.forEach((_gateway, g) => {
      const value = p.values[w]?.[g] ?? Number.NaN;
      const x = groupLeft + g * barWidth;
      if (!Number.isFinite(value)) {
        out.push(
          `<text x="${x + barWidth / 2}" y="${plotTop + plotHeight - 4}" font-size="10" text-anchor="middle" fill="#c00">FAILED</text>`,
        );
        return;
      }
      out.push(
        `<rect x="${x + 2}" y="${y(value)}" width="${barWidth - 4}" height="${plotTop + plotHeight - y(value)}" fill="${COLOURS[g % COLOURS.length]}"/>`,
        `<text x="${x + barWidth / 2}" y="${y(value) - 4}" font-size="11" text-anchor="middle">${escape(p.format(value))}</text>`,
      );
    });
    out.push(
      `<text x="${LEFT + w * groupWidth + groupWidth / 2}" y="${plotTop + plotHeight + 16}" font-size="12" text-anchor="middle">${escape(workload)}</text>`,
    );
  });
  return out;
}

export function barChart(title: string, subtitle: string, workloads: string[], gateways: string[], panels: ChartPanel[]): string {
  const height = 70 + panels.length * PANEL_HEIGHT + 30;
  const body: string[] = [
    `<text x="${LEFT}" y="24" font-size="17" font-weight="bold">${escape(title)}</text>`,
    `<text x="${LEFT}" y="44" font-size="12" fill="#555">${escape(subtitle)}</text>`,
  ];
  panels.forEach((p, i) => body.push(...panel(p, workloads, gateways, 60 + i * PANEL_HEIGHT)));
  gateways.forEach((gateway, g) => {
    const x = LEFT + g * 150;
    body.push(
      `<rect x="${x}" y="${height - 26}" width="12" height="12" fill="${COLOURS[g % COLOURS.length]}"/>`,
      `<text x="${x + 18}" y="${height - 16}" font-size="12">${escape(gateway)}</text>`,
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
