/**
 * The pure command parser: one decoded line in, one command or one error
 * out (PROTOCOL.md, "Lines", "Commands"). No I/O, no state.
 */
import { ProtocolError } from './errors.js';
import { patternProblem, topicProblem } from './topic.js';

/** Where a catch-up starts: after a journal id, after a time, or the last n. */
export type Start =
  | { kind: 'id'; id: number }
  | { kind: 'time'; ms: number }
  | { kind: 'ago'; ms: number }
  | { kind: 'last'; count: number };

export type Command =
  | { verb: 'login'; user: string; password: string }
  | { verb: 'recv'; pattern: string; start: Start | undefined }
  | { verb: 'replay'; pattern: string; start: Start }
  | { verb: 'leave'; pattern: string }
  | { verb: 'send'; topic: string; body: string }
  | { verb: 'ping'; text: string | undefined }
  | { verb: 'help' }
  | { verb: 'logoff' }
  | { verb: 'topics' }
  | { verb: 'who'; topic: string }
  | { verb: 'stats' };

export type Verb = Command['verb'];

/** Canonical verbs, and the aliases that map to them. */
const VERBS: ReadonlyMap<string, Verb> = new Map<string, Verb>([
  ['login', 'login'],
  ['recv', 'recv'],
  ['replay', 'replay'],
  ['leave', 'leave'],
  ['send', 'send'],
  ['ping', 'ping'],
  ['help', 'help'],
  ['logoff', 'logoff'],
  ['quit', 'logoff'],
  ['topics', 'topics'],
  ['who', 'who'],
  ['stats', 'stats'],
]);

export const USAGE: Readonly<Record<Verb, string>> = {
  login: 'login <user> <password>',
  recv: 'recv <pattern> [since <id|duration|time> | last <n>]',
  replay: 'replay <pattern> since <id|duration|time> | replay <pattern> last <n>',
  leave: 'leave <pattern>',
  send: 'send <topic> <message>',
  ping: 'ping [text]',
  help: 'help',
  logoff: 'logoff',
  topics: 'topics',
  who: 'who <topic>',
  stats: 'stats',
};

/** The verbs `help` lists, in the order a newcomer needs them. */
export const HELP_VERBS: readonly string[] = [
  'login', 'recv', 'replay', 'leave', 'send', 'ping', 'topics', 'who', 'stats', 'help', 'logoff', 'quit',
];

export const MAX_USER_BYTES = 64;

export type ParseResult = Command | ProtocolError | undefined;

const BLANK = /^[ \t]*$/;

/** A cursor over one line: tokens are separated by runs of spaces or tabs. */
class Cursor {
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
  token(): string | undefined {
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

  atEnd(): boolean {
    this.#skipBlanks();
    return this.#pos >= this.#line.length;
  }
}

function usage(verb: Verb, problem?: string): ProtocolError {
  const lead = problem ? `${problem}; ` : '';
  return new ProtocolError('syntax', `${lead}usage: ${USAGE[verb]}`);
}

const DURATION = /^(\d{1,9})([smhd])$/;
const DURATION_MS: Readonly<Record<string, number>> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };
// ISO-8601 date or date-time, as Date.parse reads it; a bare number is an id.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/** `since <id|duration|time>` or `last <n>`, the tail of recv and replay. */
function parseStart(cursor: Cursor): Start | string {
  const word = cursor.token()?.toLowerCase();
  const value = cursor.token();
  if (!cursor.atEnd()) return 'too many arguments';
  if (word === 'last') {
    const count = parseCount(value);
    return count === undefined ? 'last needs a whole number' : { kind: 'last', count };
  }
  if (word !== 'since') return "expected 'since' or 'last'";
  if (value === undefined) return 'since needs an id, a duration (90s, 15m, 2h, 7d) or a time';
  const id = parseCount(value);
  if (id !== undefined) return { kind: 'id', id };
  const duration = DURATION.exec(value);
  if (duration) {
    return { kind: 'ago', ms: Number(duration[1]) * (DURATION_MS[duration[2] as string] as number) };
  }
  const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) return `'${value}' is not an id, a duration (90s, 15m, 2h, 7d) or an ISO-8601 time`;
  return { kind: 'time', ms };
}

function parsePattern(verb: 'recv' | 'replay' | 'leave', cursor: Cursor): string | ProtocolError {
  const pattern = cursor.token();
  if (pattern === undefined) return usage(verb);
  const problem = patternProblem(pattern);
  return problem ? usage(verb, problem) : pattern;
}

/**
 * Parses one line (already decoded, without its CR/LF). Returns undefined
 * for a blank line, which is ignored.
 */
export function parse(line: string): ParseResult {
  if (BLANK.test(line)) return undefined;
  const cursor = new Cursor(line);
  const word = cursor.token() as string;
  const verb = VERBS.get(word.toLowerCase());
  if (verb === undefined) {
    const shown = word.length > 32 ? `${word.slice(0, 32)}...` : word;
    return new ProtocolError('syntax', `unknown command '${shown}'; try help`);
  }
  switch (verb) {
    case 'login': {
      const user = cursor.token();
      const password = cursor.rest();
      if (user === undefined || password === undefined) return usage(verb);
      if (Buffer.byteLength(user, 'utf8') > MAX_USER_BYTES) return usage(verb, `user name is over ${MAX_USER_BYTES} bytes`);
      return { verb, user, password };
    }
    case 'recv': {
      const pattern = parsePattern(verb, cursor);
      if (pattern instanceof ProtocolError) return pattern;
      if (cursor.atEnd()) return { verb, pattern, start: undefined };
      const start = parseStart(cursor);
      return typeof start === 'string' ? usage(verb, start) : { verb, pattern, start };
    }
    case 'replay': {
      const pattern = parsePattern(verb, cursor);
      if (pattern instanceof ProtocolError) return pattern;
      const start = parseStart(cursor);
      return typeof start === 'string' ? usage(verb, start) : { verb, pattern, start };
    }
    case 'leave': {
      const pattern = parsePattern(verb, cursor);
      if (pattern instanceof ProtocolError) return pattern;
      return cursor.atEnd() ? { verb, pattern } : usage(verb, 'too many arguments');
    }
    case 'send': {
      const topic = cursor.token();
      const body = cursor.rest();
      if (topic === undefined || body === undefined) return usage(verb);
      const problem = topicProblem(topic);
      return problem ? usage(verb, problem) : { verb, topic, body };
    }
    case 'ping':
      return { verb, text: cursor.rest() };
    case 'who': {
      const topic = cursor.token();
      if (topic === undefined || !cursor.atEnd()) return usage(verb);
      const problem = topicProblem(topic);
      return problem ? usage(verb, problem) : { verb, topic };
    }
    case 'help':
    case 'logoff':
    case 'topics':
    case 'stats':
      return cursor.atEnd() ? { verb } : usage(verb, 'too many arguments');
  }
}
