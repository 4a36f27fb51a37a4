import { Kind, type ConstDirectiveNode, type DocumentNode } from 'graphql';

/**
 * Resolves the name a supergraph uses for a directive of a linked spec (core schemas, `@link`).
 *
 * `@link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"])` makes `@listSize` and
 * `@cost` (the directive named like the spec needs no import) available under those names; an
 * import may rename (`{name: "@listSize", as: "@size"}`), the link may rename the spec (`as:`),
 * and a directive that is not imported is `@<spec>__<name>`. Returns undefined when the spec is
 * not linked.
 */
export function linkedDirectiveName(
  document: DocumentNode,
  specIdentity: string,
  directive: string,
  /** Only a link to this version counts (e.g. `v0.1`), when a different version may mean something else. */
  version?: string,
): string | undefined {
  for (const link of schemaLinks(document)) {
    const url = stringArg(link, 'url');
    if (!url) continue;
    const parsed = parseSpecUrl(url);
    if (!parsed || parsed.identity !== specIdentity) continue;
    if (version !== undefined && parsed.version !== version) continue;
    const specName = stringArg(link, 'as') ?? parsed.name;
    for (const entry of importList(link)) {
      if (entry.name === `@${directive}`) return (entry.as ?? entry.name).replace(/^@/, '');
    }
    return directive === parsed.name ? specName : `${specName}__${directive}`;
  }
  return undefined;
}

function schemaLinks(document: DocumentNode): ConstDirectiveNode[] {
  const links: ConstDirectiveNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      if (directive.name.value === 'link') links.push(directive);
    }
  }
  return links;
}

/** `https://specs.apollo.dev/cost/v0.1` → identity `https://specs.apollo.dev/cost`, name `cost`, version `v0.1`. */
function parseSpecUrl(url: string): { identity: string; name: string; version: string } | undefined {
  const match = /^(.*\/([A-Za-z_][\w-]*))\/(v\d+\.\d+)\/?$/.exec(url);
  return match?.[1] && match[2] && match[3] ? { identity: match[1], name: match[2], version: match[3] } : undefined;
}

function stringArg(directive: ConstDirectiveNode, name: string): string | undefined {
  const value = directive.arguments?.find((a) => a.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function importList(link: ConstDirectiveNode): { name: string; as?: string }[] {
  const value = link.arguments?.find((a) => a.name.value === 'import')?.value;
  if (value?.kind !== Kind.LIST) return [];
  return value.values.flatMap((item) => {
    if (item.kind === Kind.STRING) return [{ name: item.value }];
    if (item.kind !== Kind.OBJECT) return [];
    const field = (key: string) => {
      const found = item.fields.find((f) => f.name.value === key)?.value;
      return found?.kind === Kind.STRING ? found.value : undefined;
    };
    const name = field('name');
    return name ? [{ name, ...(field('as') ? { as: field('as') as string } : {}) }] : [];
  });
}
