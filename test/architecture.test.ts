import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The shape of gateway/src, kept true for anyone who runs only `npm test` (ESLint checks the same limits):
 * no import cycle between files, no loop between folders, no function longer than 120 lines and no file
 * longer than 400 lines. Imports of every kind count: `import`, `import type`, `export ... from`,
 * `import x = require(...)`, dynamic `import('...')` and `typeof import('...')` types.
 */

const SRC = fileURLToPath(new URL('../gateway/src/', import.meta.url));
const MAX_FUNCTION_LINES = 120;
const MAX_FILE_LINES = 400;
/** A file that says `@generated` near its top is written by a tool and exempt from the length limits. */
const GENERATED_MARKER = /@generated\b/;

type Graph = ReadonlyMap<string, ReadonlySet<string>>;

interface SourceFile {
  /** Path relative to gateway/src, with `/` separators (`auth/jwt.ts`). */
  name: string;
  text: string;
  ast: ts.SourceFile;
}

function listTsFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...listTsFiles(path));
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

function toName(path: string): string {
  return relative(SRC, path).split(sep).join('/');
}

function loadSources(): SourceFile[] {
  return listTsFiles(SRC).map((path) => {
    const text = readFileSync(path, 'utf8');
    return { name: toName(path), text, ast: ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS) };
  });
}

/** Every module specifier a file names, static or dynamic, value or type. */
function moduleSpecifiers(file: ts.SourceFile): string[] {
  const specifiers: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      specifiers.push(node.moduleReference.expression.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) specifiers.push(argument.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return specifiers;
}

/** Resolves a relative specifier the way NodeNext does for these sources: `./x.js` is the file `./x.ts`. */
function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const base = resolve(SRC, dirname(fromFile), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((candidate) => candidate.endsWith('.ts') && existsSync(candidate) && statSync(candidate).isFile());
}

interface ImportGraph {
  files: Graph;
  /** Relative imports that name no file (the graph would be incomplete without them). */
  unresolved: string[];
}

function buildFileGraph(sources: readonly SourceFile[]): ImportGraph {
  const files = new Map<string, Set<string>>();
  const unresolved: string[] = [];
  for (const source of sources) {
    const edges = new Set<string>();
    for (const specifier of moduleSpecifiers(source.ast)) {
      if (!specifier.startsWith('.')) continue;
      const target = resolveRelative(source.name, specifier);
      if (!target) unresolved.push(`${source.name}: '${specifier}'`);
      // Imports that leave gateway/src (none today) are not part of its shape.
      else if (!relative(SRC, target).startsWith('..')) edges.add(toName(target));
    }
    files.set(source.name, edges);
  }
  return { files, unresolved };
}

/** A file's folder node: its top-level subfolder of gateway/src (`rate-limit/scripts/x.ts` -> `rate-limit/`), or the root file itself. */
function folderOf(name: string): string {
  const slash = name.indexOf('/');
  return slash === -1 ? name : name.slice(0, slash + 1);
}

/** The folder graph, and for each folder edge one file import that makes it (to print as evidence). */
function buildFolderGraph(files: Graph): { folders: Graph; evidence: Map<string, string> } {
  const folders = new Map<string, Set<string>>();
  const evidence = new Map<string, string>();
  for (const [from, targets] of files) {
    const source = folderOf(from);
    if (!folders.has(source)) folders.set(source, new Set());
    for (const to of targets) {
      const target = folderOf(to);
      if (target === source) continue;
      folders.get(source)?.add(target);
      if (!evidence.has(`${source} ${target}`)) evidence.set(`${source} ${target}`, `${from} imports ${to}`);
    }
  }
  return { folders, evidence };
}

/** Strongly connected components (Tarjan), each sorted; only those that hold a cycle (two or more nodes, or a self-loop). */
function cyclicComponents(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.has(node)) components.push(component.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return components.sort((a, b) => (a[0] ?? '').localeCompare(b[0] ?? ''));
}

/** The shortest cycle through `start` that stays inside `within`, as a chain that ends where it starts. */
function shortestCycleThrough(graph: Graph, start: string, within: ReadonlySet<string>): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head += 1) {
    const node = queue[head] as string;
    for (const next of [...(graph.get(node) ?? [])].sort()) {
      if (!within.has(next)) continue;
      if (next === start) {
        const hops: string[] = [];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = previous.get(at)) hops.unshift(at);
        return [start, ...hops, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

/** One cycle per tangle of the graph: the chain through its first node, and how many nodes the tangle holds. */
function findCycles(graph: Graph): { chain: string[]; members: string[] }[] {
  return cyclicComponents(graph).map((members) => ({
    chain: shortestCycleThrough(graph, members[0] as string, new Set(members)),
    members,
  }));
}

function describeCycle({ chain, members }: { chain: string[]; members: string[] }): string {
  const others = members.filter((member) => !chain.includes(member));
  return `${chain.join(' -> ')}${others.length > 0 ? `\n    (the same tangle also holds: ${others.join(', ')})` : ''}`;
}

/** A folder loop: its chain, then every folder edge inside its tangle with one file import that makes it. */
function describeFolderLoop(
  { chain, members }: { chain: string[]; members: string[] },
  folders: Graph,
  evidence: Map<string, string>,
): string {
  const inside = new Set(members);
  const edges = members.flatMap((from) =>
    [...(folders.get(from) ?? [])]
      .filter((to) => inside.has(to))
      .sort()
      .map((to) => `\n    ${from} -> ${to}: ${evidence.get(`${from} ${to}`)}`),
  );
  return `${chain.join(' -> ')}${edges.join('')}`;
}

/** Lines of the file that hold code: a token (or part of a multi-line token) on them, not only blanks and comments. */
function codeLines(file: ts.SourceFile): Set<number> {
  const lines = new Set<number>();
  const visit = (node: ts.Node): void => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    const children = node.getChildren(file);
    if (children.length === 0) {
      if (node.kind === ts.SyntaxKind.EndOfFileToken) return;
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const last = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      for (let line = first; line <= last; line += 1) lines.add(line);
      return;
    }
    for (const child of children) visit(child);
  };
  visit(file);
  return lines;
}

function functionName(node: ts.FunctionLikeDeclaration): string {
  const named = node.name;
  if (named && (ts.isIdentifier(named) || ts.isPrivateIdentifier(named) || ts.isStringLiteral(named))) return named.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (
    (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) &&
    ts.isIdentifier(parent.name)
  ) {
    return parent.name.text;
  }
  return ts.isArrowFunction(node) ? 'arrow function' : 'function';
}

/** Functions longer than the limit, counted as ESLint's max-lines-per-function does with skipBlankLines and skipComments. */
function longFunctions(source: SourceFile, max: number): string[] {
  const found: string[] = [];
  const code = codeLines(source.ast);
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.ast.getLineAndCharacterOfPosition(node.getStart(source.ast)).line;
      const last = source.ast.getLineAndCharacterOfPosition(node.getEnd()).line;
      let length = 0;
      for (let line = first; line <= last; line += 1) if (code.has(line)) length += 1;
      if (length > max) found.push(`${source.name}:${first + 1} ${functionName(node as ts.FunctionLikeDeclaration)} has ${length} lines`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source.ast);
  return found;
}

/** The file's length as ESLint's max-lines counts it: every line, blank or comment, without the empty one after a final newline. */
function fileLength(text: string): number {
  const lines = text.split(/\r\n|[\r\n\u2028\u2029]/);
  return lines.length > 1 && lines.at(-1) === '' ? lines.length - 1 : lines.length;
}

function isGenerated(source: SourceFile): boolean {
  return GENERATED_MARKER.test(source.text.split('\n', 5).join('\n'));
}

describe('the shape of gateway/src', () => {
  const sources = loadSources();
  const { files, unresolved } = buildFileGraph(sources);

  it('reads every file and resolves every relative import', () => {
    expect(sources.length).toBeGreaterThan(0);
    expect(unresolved).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const cycles = findCycles(files).map((cycle) => describeCycle(cycle));
    if (cycles.length > 0) console.log(`import cycles between files in gateway/src:\n  ${cycles.join('\n  ')}`);
    expect(cycles).toEqual([]);
  });

  it('has no loop between folders (each top-level folder and each root file is one node)', () => {
    const { folders, evidence } = buildFolderGraph(files);
    const loops = findCycles(folders).map((cycle) => describeFolderLoop(cycle, folders, evidence));
    if (loops.length > 0) console.log(`loops between folders of gateway/src:\n  ${loops.join('\n  ')}`);
    expect(loops).toEqual([]);
  });

  it(`has no function longer than ${MAX_FUNCTION_LINES} lines (blank and comment lines not counted)`, () => {
    const long = sources.filter((source) => !isGenerated(source)).flatMap((source) => longFunctions(source, MAX_FUNCTION_LINES));
    expect(long).toEqual([]);
  });

  it(`has no file longer than ${MAX_FILE_LINES} lines`, () => {
    const long = sources
      .filter((source) => !isGenerated(source) && fileLength(source.text) > MAX_FILE_LINES)
      .map((source) => `${source.name} has ${fileLength(source.text)} lines`);
    expect(long).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const graph = (edges: Record<string, string[]>): Graph => new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));

  it('finds a -> b -> a', () => {
    expect(findCycles(graph({ a: ['b'], b: ['a'] }))).toEqual([{ chain: ['a', 'b', 'a'], members: ['a', 'b'] }]);
  });

  it('finds a longer loop and a self-loop, each as a chain that ends where it starts', () => {
    const found = findCycles(graph({ a: ['b'], b: ['c'], c: ['a', 'd'], d: ['d'], e: [] }));
    expect(found.map((cycle) => cycle.chain)).toEqual([
      ['a', 'b', 'c', 'a'],
      ['d', 'd'],
    ]);
  });

  it('passes a graph without cycles (a diamond)', () => {
    expect(findCycles(graph({ a: ['b', 'c'], b: ['d'], c: ['d'], d: [] }))).toEqual([]);
  });

  it('sees every kind of import: static, type-only, re-export, require, dynamic and import types', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from './b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "import e = require('./e.js');",
      "const f = await import('./f.js');",
      "type G = typeof import('./g.js');",
      "import 'node:fs';",
    ].join('\n');
    const file = ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    expect(moduleSpecifiers(file)).toEqual(['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js', './g.js', 'node:fs']);
  });

  it('puts nested folders in their top folder and each root file in its own node', () => {
    const { folders } = buildFolderGraph(
      graph({
        'server.ts': ['rate-limit/scripts/load.ts'],
        'rate-limit/scripts/load.ts': ['rate-limit/store.ts'],
        'rate-limit/store.ts': ['errors.ts'],
        'errors.ts': [],
      }),
    );
    expect(findCycles(folders)).toEqual([]);
    expect(folders).toEqual(graph({ 'server.ts': ['rate-limit/'], 'rate-limit/': ['errors.ts'], 'errors.ts': [] }));
  });
});
