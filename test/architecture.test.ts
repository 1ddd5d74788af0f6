/**
 * ARCHITECTURE.md's rules over the import graph of src/ (type imports
 * included): no import cycle between files, and every room imports only
 * the rooms above it in the document's table of rooms.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Tests run compiled, from dist/test.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');
const roomOf = (file: string): string => file.split('/')[0]?.replace(/\.ts$/, '') ?? file;

/** The rooms, bottom to top: the first cell of each row of the table (a top-level file is a room of its own). */
function rooms(): string[] {
  const table = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8').split('## Rooms')[1]?.split('\n## ')[0] ?? '';
  return [...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((row) => [...(row[1] as string).matchAll(/`([a-z-]+)(?:\/|\.ts)`/g)].map((name) => name[1] as string));
}

/** file -> the files it imports, relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of readdirSync(src, { recursive: true }) as string[]) {
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(join(src, file), 'utf8');
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)\.js'/g)].map((m) => relative(src, resolve(dirname(join(src, file)), `${m[1]}.ts`)));
    graph.set(file, targets);
  }
  return graph;
}

/** Every cycle a depth-first walk meets, as `a -> b -> a`. */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]): void => {
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node, [node]);
  return found;
}

t.test('no import cycle between files', async (t) => {
  const graph = importGraph();
  t.ok(graph.size > 50, 'the sources were found');
  t.same(cycles(graph), []);
});

t.test('every room imports only rooms below it', async (t) => {
  const ROOMS = rooms();
  t.same(ROOMS.slice(0, 2), ['util', 'log'], 'the table was read');
  const upward: string[] = [];
  const unlisted: string[] = [];
  for (const [file, targets] of importGraph()) {
    const from = ROOMS.indexOf(roomOf(file));
    if (from === -1) unlisted.push(file);
    for (const target of targets) if (ROOMS.indexOf(roomOf(target)) > from) upward.push(`${file} -> ${target}`);
  }
  t.same(unlisted, [], 'every file is in a room of the list');
  t.same(upward, []);
});

t.test("outside queue/, only assemble.ts picks the journal's own engine; the rest sees the interface", async (t) => {
  const reaching: string[] = [];
  for (const [file, targets] of importGraph()) {
    if (file.startsWith('queue/') || file === 'assemble.ts') continue;
    for (const target of targets) if (target.startsWith('queue/') && target !== 'queue/queue.ts' && target !== 'queue/attachments.ts') reaching.push(`${file} -> ${target}`);
  }
  t.same(reaching, []);
});

t.test('the check finds a cycle when there is one', async (t) => {
  t.same(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a -> b -> c -> a']);
});
