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

/** `job <topic> <id> <from> <message>` with its LF: a work queue's delivery. */
export function jobText(topic: string, id: number, sender: string, body: string): string {
  return `job ${topic} ${id} ${sender} ${body}\n`;
}

/** The `job` line of a message whose `msg` line is `msg` (the same words after the first). */
export function jobFromMsg(msg: string): string {
  return `job${msg.slice(3)}`;
}

/** A duration as a person writes it: `10s`, `1500ms`. */
export function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
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

/** The message of a `msg <topic> <id> <from> <message>` line with its LF (topic, id and sender hold no space). */
export function msgBody(line: string): string {
  const afterTopic = line.indexOf(' ', 4) + 1;
  const afterId = line.indexOf(' ', afterTopic) + 1;
  return line.slice(line.indexOf(' ', afterId) + 1, line.length - 1);
}

/** The id in a `msg <topic> <id> ...` line (a topic holds no space). */
export function msgId(line: string): number {
  const afterTopic = line.indexOf(' ', 4) + 1;
  return Number(line.slice(afterTopic, line.indexOf(' ', afterTopic)));
}
