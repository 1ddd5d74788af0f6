/**
 * The pure command parser: one decoded line in, one command or one error
 * out (PROTOCOL.md, "Lines", "Commands"). No I/O, no state; the verbs and
 * their arguments are the table in commands.ts.
 */
import { Args } from './args.js';
import type { Usage } from './args.js';
import { VERB_NAMES, VERBS } from './commands.js';
import type { Command, Verb, VerbSpec } from './commands.js';
import { ForeignProtocolError, ProtocolError } from './errors.js';
import { validTopic } from './topic.js';

export type ParseResult = Command | ProtocolError | undefined;

const BLANK = /^[ \t]*$/;

/** `err syntax`, with the problem (if any) and the verb's usage. */
export function usageError(verb: Verb, problem?: string): ProtocolError {
  const lead = problem ? `${problem}; ` : '';
  return new ProtocolError('syntax', `${lead}usage: ${VERBS[verb].usage}`);
}

/**
 * Parses one line (already decoded, without its CR/LF). Returns undefined
 * for a blank line, which is ignored.
 */
export function parse(line: string): ParseResult {
  const send = parseSend(line);
  if (send !== undefined) return send;
  if (BLANK.test(line)) return undefined;
  const args = new Args(line);
  const word = args.word() as string;
  const verb = VERB_NAMES.get(word.toLowerCase());
  if (verb === undefined) {
    if (looksLikeHttp(word, line)) return new ForeignProtocolError('http request', 'this port speaks the linebus line protocol, not HTTP; the web listener is --http-port');
    const shown = word.length > 32 ? `${word.slice(0, 32)}...` : word;
    return new ProtocolError('syntax', `unknown command '${shown}'; try help`);
  }
  try {
    const spec = VERBS[verb] as VerbSpec<object>;
    return { verb, ...spec.parse(args) } as Command;
  } catch (error) {
    // Argument readers throw only Usage (protocol/args.ts).
    return usageError(verb, (error as Usage).problem);
  }
}

/** An HTTP request line (`POST / HTTP/1.1`), or a `Host:` header, as Redis looks for. */
const HTTP_REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/\d(\.\d)?$/;

/** Whether a line with the unknown verb `word` is part of an HTTP request. */
function looksLikeHttp(word: string, line: string): boolean {
  return word.toLowerCase().startsWith('host:') || HTTP_REQUEST_LINE.test(line);
}

/**
 * The common `send <topic> <message>` with single spaces, in a few
 * comparisons: most lines a busy bus reads are sends. Anything else (case,
 * tabs, extra blanks, a bad topic) is left to the table, which gives the
 * same command or the right error.
 */
function parseSend(line: string): Command | undefined {
  if (!line.startsWith('send ')) return undefined;
  const space = line.indexOf(' ', 5);
  if (space <= 5 || space === line.length - 1) return undefined;
  const topic = validTopic(line.slice(5, space));
  if (topic === undefined || topic.includes('\t')) return undefined;
  return { verb: 'send', topic, body: line.slice(space + 1) };
}
