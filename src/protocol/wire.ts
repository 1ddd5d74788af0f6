/**
 * Every line the server writes, formatted in one place (PROTOCOL.md,
 * "Greeting", "Replies", "Delivery"). Functions return the line without its
 * LF; the outbox adds it, except for `msg` text, which is formatted once per
 * message with its LF and shared by every receiver.
 */
import type { ErrorCode } from './errors.js';

export function hello(version: string): string {
  return `hello linebus ${version}`;
}

/** `ok <verb> [words...]` */
export function ok(verb: string, ...words: (string | number)[]): string {
  return words.length === 0 ? `ok ${verb}` : `ok ${verb} ${words.join(' ')}`;
}

/** `ok send <id>`, the reply a busy bus writes most. */
export function sent(id: number): string {
  return `ok send ${id}`;
}

export function err(code: ErrorCode, text: string): string {
  return `err ${code} ${text}`;
}

export function pong(text: string | undefined): string {
  return text === undefined ? 'pong' : `pong ${text}`;
}

/** `msg <topic> <id> <from> <message>` with its LF. */
export function msgText(topic: string, id: number, sender: string, body: string): string {
  return `msg ${topic} ${id} ${sender} ${body}\n`;
}

/** A data line of a listing command: `<kind> <words...>` (topic, user, stat). */
export function item(kind: string, ...words: (string | number)[]): string {
  return `${kind} ${words.join(' ')}`;
}

/** ` journal starts at <id>`, appended to a reply when retention took what was asked for. */
export function journalStartsAt(first: number): string {
  return ` journal starts at ${first}`;
}

/**
 * The `msg` line with its LF as an SQL expression over a row of `messages`,
 * so that replay pages are formatted by SQLite: the same line as msgText.
 */
export const MSG_LINE_SQL = "'msg ' || topic || ' ' || id || ' ' || sender || ' ' || body || char(10)";

/** The id in a `msg <topic> <id> ...` line (a topic holds no space). */
export function msgId(line: string): number {
  const afterTopic = line.indexOf(' ', 4) + 1;
  return Number(line.slice(afterTopic, line.indexOf(' ', afterTopic)));
}
