/**
 * Reading the arguments of one command line: tokens separated by runs of
 * spaces or tabs, the byte-for-byte rest of a line, and the typed values
 * the verbs share (topics, patterns, where a catch-up starts). A reader
 * that finds a problem throws a Usage, which the parser turns into
 * `err syntax <problem>; usage: <usage>`.
 */
import { patternProblem, topicProblem } from './topic.js';

/** Where a catch-up starts: after a journal id, after a time, or the last n. */
export type Start =
  | { kind: 'id'; id: number }
  | { kind: 'time'; ms: number }
  | { kind: 'ago'; ms: number }
  | { kind: 'last'; count: number };

/** A malformed command; `problem` is undefined when the usage says it all. */
export class Usage {
  readonly problem: string | undefined;

  constructor(problem?: string) {
    this.problem = problem;
  }
}

const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const DURATION_MS: Readonly<Record<string, number>> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };
/** The longest `wait`, `within` or nack delay: 30 days. */
export const MAX_DURATION_MS = 30 * 86400e3;
const DURATION_HINT = 'use a number and a unit: 500ms, 30s, 5m, 2h, 1d';
/** Cursor and group names (PROTOCOL.md, "Durable cursors"); MQTT's `$share` groups too. */
export const CURSOR_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// ISO-8601 date or date-time, as Date.parse reads it; a bare number is an id.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A whole number of up to 15 digits, or undefined. */
export function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/** `500ms`, `90s`, `15m`, `2h`, `7d` in milliseconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  const duration = DURATION.exec(text);
  return duration ? Number(duration[1]) * (DURATION_MS[duration[2] as string] as number) : undefined;
}

export class Args {
  #pos = 0;
  readonly #line: string;

  constructor(line: string) {
    this.#line = line;
  }

  #skipBlanks(): void {
    while (this.#pos < this.#line.length) {
      const c = this.#line.charCodeAt(this.#pos);
      if (c !== 0x20 && c !== 0x09) break;
      this.#pos++;
    }
  }

  /** The next token, or undefined at the end of the line. */
  word(): string | undefined {
    this.#skipBlanks();
    const start = this.#pos;
    while (this.#pos < this.#line.length) {
      const c = this.#line.charCodeAt(this.#pos);
      if (c === 0x20 || c === 0x09) break;
      this.#pos++;
    }
    return this.#pos > start ? this.#line.slice(start, this.#pos) : undefined;
  }

  /**
   * Everything after the single space or tab that follows the last token,
   * byte for byte; undefined if nothing follows.
   */
  rest(): string | undefined {
    const text = this.#line.slice(this.#pos + 1);
    return text.length > 0 ? text : undefined;
  }

  /** The next token in lower case, without taking it. */
  peek(): string | undefined {
    const pos = this.#pos;
    const word = this.word();
    this.#pos = pos;
    return word?.toLowerCase();
  }

  /** Takes the next token if it is `keyword` (in any case). */
  keyword(keyword: string): boolean {
    if (this.peek() !== keyword) return false;
    this.word();
    return true;
  }

  atEnd(): boolean {
    this.#skipBlanks();
    return this.#pos >= this.#line.length;
  }

  /** Nothing may follow. */
  end(): void {
    if (!this.atEnd()) throw new Usage('too many arguments');
  }

  /** A pattern a client may receive. */
  pattern(): string {
    const pattern = this.word();
    if (pattern === undefined) throw new Usage();
    const problem = patternProblem(pattern);
    if (problem) throw new Usage(problem);
    return pattern;
  }

  /**
   * `since <id|duration|time>` or `last <n>`, the tail of recv and replay;
   * nothing may follow it.
   */
  start(): Start {
    const word = this.word()?.toLowerCase();
    const value = this.word();
    this.end();
    return parseStart(word, value);
  }

  /** A cursor or group name: 1 to 64 letters, digits, `-`, `_` and `.`. */
  name(what: 'cursor' | 'group'): string {
    const name = this.word();
    if (name === undefined) throw new Usage();
    if (!CURSOR_NAME.test(name)) throw new Usage(`a ${what} name is 1 to 64 letters, digits, '-', '_' or '.'`);
    return name;
  }

  /** A journal id. */
  id(): number {
    const word = this.word();
    if (word === undefined) throw new Usage();
    const id = parseCount(word);
    if (id === undefined) throw new Usage(`'${word}' is not a message id (a whole number)`);
    return id;
  }

  /** A duration of 1ms to 30d, in milliseconds; `what` names it in the error. */
  duration(what: string): number {
    const word = this.word();
    if (word === undefined) throw new Usage(`${what} needs a duration; ${DURATION_HINT}`);
    const ms = parseDuration(word);
    if (ms === undefined) throw new Usage(`'${word}' is not a duration; ${DURATION_HINT}`);
    if (ms === 0 || ms > MAX_DURATION_MS) throw new Usage(`${what} is from 1ms to 30d`);
    return ms;
  }

  /** A whole number from `min` up, after the option `what`. */
  count(what: string, min: number): number {
    const count = parseCount(this.word());
    if (count === undefined || count < min) throw new Usage(`${what} needs a whole number of at least ${min}`);
    return count;
  }
}

/** `since <value>` or `last <value>`. */
export function parseStart(word: string | undefined, value: string | undefined): Start {
  if (word === 'last') {
    const count = parseCount(value);
    if (count === undefined) throw new Usage('last needs a whole number');
    return { kind: 'last', count };
  }
  if (word !== 'since') throw new Usage("expected 'since' or 'last'");
  if (value === undefined) throw new Usage('since needs an id, a duration (90s, 15m, 2h, 7d) or a time');
  return parseSince(value);
}

/** The options of `take` after `as <group>`, in any order, each once. */
export interface TakeOptions {
  start?: Start;
  max?: number;
  waitMs?: number;
  tries?: number;
}

export function takeOptions(a: Args): TakeOptions {
  const options: TakeOptions = {};
  const seen = new Set<string>();
  for (let word = a.peek(); word !== undefined; word = a.peek()) {
    a.word();
    if (seen.has(word)) throw new Usage(`${word} is given twice`);
    seen.add(word);
    if (word === 'since' || word === 'last') {
      if (seen.has('since') && seen.has('last')) throw new Usage("give 'since' or 'last', not both");
      options.start = parseStart(word, a.word());
    } else if (word === 'max') options.max = a.count('max', 1);
    else if (word === 'wait') options.waitMs = a.duration('wait');
    else if (word === 'tries') options.tries = a.count('tries', 0);
    else throw new Usage(`unexpected '${word}'; the options are since, max, wait and tries`);
  }
  return options;
}

/** The value of `since`: a journal id, a duration ago, or an ISO-8601 time. */
export function parseSince(value: string): Start {
  const id = parseCount(value);
  if (id !== undefined) return { kind: 'id', id };
  const ago = parseDuration(value);
  if (ago !== undefined) return { kind: 'ago', ms: ago };
  const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new Usage(`'${value}' is not an id, a duration (90s, 15m, 2h, 7d) or an ISO-8601 time`);
  return { kind: 'time', ms };
}

/** A topic given as `word`, checked; for verbs that read it before the rest. */
export function checkTopic(topic: string): string {
  const problem = topicProblem(topic);
  if (problem) throw new Usage(problem);
  return topic;
}
