/**
 * `linebus tail` (CLI.md): prints journaled messages, oldest first, and with
 * -f keeps following what the daemon appends. It opens the database
 * read-only and never writes to it.
 */
import { Chalk } from 'chalk';
import type { Start } from '../protocol/args.js';
import { FatalError } from '../protocol/errors.js';
import { patternProblem } from '../protocol/topic.js';
import type { StoredMessage } from '../store/journal.js';
import { Wants } from '../store/wants.js';
import { Store } from '../store/store.js';
import { escapeControls, useColour } from './display.js';

export interface TailOptions {
  db: string;
  follow: boolean;
  lines: number | undefined;
  topic: string;
  /** A journal id, a duration ago or a time; `last` is not one. */
  since: Exclude<Start, { kind: 'last' }> | undefined;
  json: boolean;
  /** How often -f looks for new rows. */
  pollMs: number;
}

type Format = (row: StoredMessage) => string;

/**
 * `<id> <ISO-8601 time> <topic> <from> <message>`; on a terminal, coloured
 * (unless NO_COLOR) and with control characters in the body made visible.
 */
export function formatter(json: boolean, terminal: boolean, colour: boolean): Format {
  if (json) {
    return (row) => JSON.stringify({ id: row.id, ts: row.ts, topic: row.topic, sender: row.sender, body: row.body });
  }
  const c = new Chalk({ level: colour ? 1 : 0 });
  const body = terminal ? escapeControls : (text: string): string => text;
  return (row) => `${c.dim(String(row.id))} ${c.dim(new Date(row.ts).toISOString())} ${c.cyan(row.topic)} ${c.yellow(row.sender)} ${body(row.body)}`;
}

/** Resolves when tail stops: at the end without -f, or when `signal` aborts. */
export async function tail(options: TailOptions, write: (text: string) => boolean, signal: AbortSignal): Promise<void> {
  const problem = patternProblem(options.topic);
  if (problem) throw new FatalError(`--topic: ${problem}`);
  const store = Store.open(options.db, { readonly: true });
  try {
    const reader = store.reader;
    const format = formatter(options.json, process.stdout.isTTY === true, useColour(process.stdout, process.env));
    const last = reader.lastId();
    let after: number;
    if (options.since !== undefined) {
      const since = options.since;
      after = since.kind === 'id' ? since.id : store.starts.afterTime(since.kind === 'time' ? since.ms : Date.now() - since.ms, 1, last);
      // --since with -n: at most the last n of those after the id.
      if (options.lines !== undefined) after = Math.max(after, drain(store.starts.startOfLast(options.topic, options.lines, last)));
    } else {
      after = drain(store.starts.startOfLast(options.topic, options.lines ?? 10, last));
    }
    const wants = new Wants([{ pattern: options.topic, after }]);
    let cursor = Math.max(after, reader.firstId() - 1);
    for (;;) {
      const page = reader.page(wants, cursor, Number.MAX_SAFE_INTEGER);
      if (page.rows.length > 0) write(page.rows.map((row) => `${format(row)}\n`).join(''));
      cursor = page.next;
      if (!page.done) continue;
      if (!options.follow || signal.aborted) return;
      await pause(options.pollMs, signal);
      if (signal.aborted) return;
    }
  } finally {
    store.close();
  }
}

/** Waits `ms`, or less if `signal` aborts; leaves no listener behind. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

function drain(steps: Generator<void, number>): number {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** The `tail` subcommand: writes to stdout until done or interrupted. */
export async function tailCommand(options: Omit<TailOptions, 'pollMs'>): Promise<void> {
  // `linebus tail | head -1`: the reader went away; that is a normal end.
  // Any other write error (a full disk) is one line and exit status 1.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    process.stderr.write(`linebus: cannot write to standard output: ${error.message}\n`);
    process.exit(1);
  });
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  await tail({ ...options, pollMs: 100 }, (text) => process.stdout.write(text), stop.signal);
}
