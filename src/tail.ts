/**
 * `linebus tail` (CLI.md): prints journaled messages, oldest first, and with
 * -f keeps following what the daemon appends. It opens the database
 * read-only and never writes to it.
 */
import { Chalk } from 'chalk';
import { FatalError } from './errors.js';
import { Journal } from './journal.js';
import type { StoredMessage } from './journal.js';
import { JournalReader } from './reader.js';
import type { Want } from './reader.js';
import { patternProblem } from './topic.js';

export interface TailOptions {
  db: string;
  follow: boolean;
  lines: number | undefined;
  topic: string;
  since: number | undefined;
  json: boolean;
  /** How often -f looks for new rows. */
  pollMs: number;
}

type Format = (row: StoredMessage) => string;

/** `<id> <ISO-8601 time> <topic> <from> <message>`, coloured on a terminal. */
export function formatter(json: boolean, colour: boolean): Format {
  if (json) {
    return (row) => JSON.stringify({ id: row.id, ts: row.ts, topic: row.topic, sender: row.sender, body: row.body });
  }
  const c = new Chalk({ level: colour ? 1 : 0 });
  return (row) => `${c.dim(String(row.id))} ${c.dim(new Date(row.ts).toISOString())} ${c.cyan(row.topic)} ${c.yellow(row.sender)} ${row.body}`;
}

export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && env.NO_COLOR === undefined;
}

/** Resolves when tail stops: at the end without -f, or when `signal` aborts. */
export async function tail(options: TailOptions, write: (text: string) => boolean, signal: AbortSignal): Promise<void> {
  const problem = patternProblem(options.topic);
  if (problem) throw new FatalError(`--topic: ${problem}`);
  const journal = Journal.open(options.db, { readonly: true });
  try {
    const reader = new JournalReader(journal.db);
    const format = formatter(options.json, useColour(process.stdout, process.env));
    const last = reader.lastId();
    let after: number;
    if (options.since !== undefined) {
      after = options.since;
      // --since with -n: at most the last n of those after the id.
      if (options.lines !== undefined) after = Math.max(after, drain(reader.startOfLast(options.topic, options.lines, last)));
    } else {
      after = drain(reader.startOfLast(options.topic, options.lines ?? 10, last));
    }
    const wants: Want[] = [{ pattern: options.topic, after }];
    let cursor = Math.max(after, reader.firstId() - 1);
    for (;;) {
      const page = reader.page(wants, cursor, Number.MAX_SAFE_INTEGER);
      if (page.rows.length > 0) write(page.rows.map((row) => `${format(row)}\n`).join(''));
      cursor = page.next;
      if (!page.done) continue;
      if (!options.follow || signal.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
      if (signal.aborted) return;
    }
  } finally {
    journal.close();
  }
}

function drain(steps: Generator<void, number>): number {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
