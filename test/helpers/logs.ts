import { Writable } from 'node:stream';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; reqId?: string };

/** A pino destination that keeps every line, parsed, and the raw text (to search for leaks). */
export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  raw = '';

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const text = chunk.toString('utf8');
    this.raw += text;
    for (const line of text.split('\n')) {
      if (line.trim()) this.lines.push(JSON.parse(line) as LogLine);
    }
    callback();
  }

  find(predicate: (line: LogLine) => boolean): LogLine[] {
    return this.lines.filter(predicate);
  }

  completed(requestId?: string): LogLine[] {
    return this.find((l) => l.msg === 'request completed' && (requestId === undefined || l.reqId === requestId));
  }
}
