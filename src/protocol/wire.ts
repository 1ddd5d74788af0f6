/**
 * Every line the server writes, formatted in one place (PROTOCOL.md,
 * "Greeting", "Replies", "Delivery"), from the typed events of events.ts
 * and the line protocol's own lines, with their LF; `msg` text is
 * formatted once per message and shared by every receiver.
 */
import type { Reply } from './events.js';

/** A line that answers no single verb: the greeting, `pong`, a listing's data line. */
export interface Line {
  readonly code: 'line';
  readonly text: string;
}

/** Whatever the line protocol answers a command with. */
export type LineReply = Reply | Line;

/** The line of a reply with its LF, as it is written: `ok <verb> [text] [journal starts at <id>]`, `err <code> <text>`. */
export function replyText(reply: LineReply): string {
  if (reply.code === 'line') return `${reply.text}\n`;
  if (reply.code === 'ok') {
    const head = reply.text === '' ? `ok ${reply.verb}` : `ok ${reply.verb} ${reply.text}`;
    return reply.journalStartsAt === undefined ? `${head}\n` : `${head} journal starts at ${reply.journalStartsAt}\n`;
  }
  return `err ${reply.code} ${reply.text}\n`;
}

/** The same line without its LF. */
export function replyLine(reply: LineReply): string {
  return replyText(reply).slice(0, -1);
}

export function hello(version: string): Line {
  return { code: 'line', text: `hello linebus ${version}` };
}

export function pong(text: string | undefined): Line {
  return { code: 'line', text: text === undefined ? 'pong' : `pong ${text}` };
}

/** `msg <topic> <id> <from> <message>` with its LF. */
export function msgText(topic: string, id: number, sender: string, body: string): string {
  return `msg ${topic} ${id} ${sender} ${body}\n`;
}

/**
 * Writes `msg` lines, the bytes of msgText's, straight into a buffer (a
 * page of the journal): no string for a line or its pieces, whose
 * allocation cost a busy daemon a seventh of its time in garbage
 * collection. The bytes of `msg <topic> ` and ` <sender> ` are kept
 * from the line before: a run of sends repeats them.
 */
export class MsgWriter {
  #topic = '';
  #head = Buffer.from('msg  ');
  #sender = '';
  #from = Buffer.from('  ');

  /** The most bytes the line takes (a UTF-16 unit is at most 3 bytes of UTF-8). */
  maxBytes(topic: string, sender: string, body: string): number {
    return 3 * (topic.length + sender.length + body.length) + 30;
  }

  /** Writes the line at `at` of `into` (room for maxBytes), returns where it ends. */
  write(into: Buffer, at: number, topic: string, id: number, sender: string, body: string): number {
    if (topic !== this.#topic) {
      this.#topic = topic;
      this.#head = Buffer.from(`msg ${topic} `);
    }
    if (sender !== this.#sender) {
      this.#sender = sender;
      this.#from = Buffer.from(` ${sender} `);
    }
    into.set(this.#head, at);
    at = writeDigits(into, at + this.#head.length, id);
    into.set(this.#from, at);
    at += this.#from.length;
    at += into.write(body, at);
    into[at] = 0x0a;
    return at + 1;
  }
}

/** `ok send ` as bytes. */
const OK_SEND = Buffer.from('ok send ');
/**
 * A slab of SentLines: room for some 250 acknowledgements, cut from
 * Node's shared buffer pool (under half its 8 KiB), so that a connection
 * that sent once and went idle keeps little memory.
 */
const SENT_SLAB_BYTES = 4000;
/** The longest `ok send <id>` line: 8 bytes, at most 16 digits (a safe integer), LF. */
const SENT_MAX_BYTES = 25;

/**
 * Writes `ok send <id>` lines (replyText's bytes for `sent(id)`), one
 * after the other, into slabs: no Reply, string or closure per send, and
 * a run of one connection's acknowledgements is one piece of its output.
 * A slab is never written over: a full one is left to the lines that
 * still point into it.
 */
export class SentLines {
  #slab: Buffer | undefined;
  #at = 0;

  /** The slab of the last line written; it starts at `start`. */
  data: Buffer = OK_SEND;
  start = 0;

  /** Writes the line of `id`; returns where it ends in `data`. */
  write(id: number): number {
    let slab = this.#slab;
    if (slab === undefined || this.#at + SENT_MAX_BYTES > slab.length) {
      slab = this.#slab = Buffer.allocUnsafe(SENT_SLAB_BYTES);
      this.#at = 0;
    }
    this.data = slab;
    this.start = this.#at;
    slab.set(OK_SEND, this.#at);
    const end = writeDigits(slab, this.#at + OK_SEND.length, id);
    slab[end] = 0x0a;
    this.#at = end + 1;
    return end + 1;
  }
}

/** Writes the decimal digits of `n` (an integer, 0 or more) at `at`; returns where they end. */
export function writeDigits(into: Buffer, at: number, n: number): number {
  if (n > 0x7fffffff) return at + into.write(`${n}`, at, 'latin1');
  let end = at + 1;
  for (let rest = n; rest >= 10; rest = (rest / 10) | 0) end++;
  for (let p = end - 1, rest = n; p >= at; p--, rest = (rest / 10) | 0) into[p] = 0x30 + (rest % 10);
  return end;
}

/**
 * A `msg` or `job` line (with its LF) stamped with its commit time, for a
 * connection that asked with `tags ts`: `@ts=<ms> msg ...`, as IRCv3's
 * message tags put `@time=` before a line.
 */
export function stampedText(ts: number, text: string): string {
  return `@ts=${ts} ${text}`;
}

/** `job <topic> <id> <from> <message>` with its LF: a work queue's delivery. */
export function jobText(topic: string, id: number, sender: string, body: string): string {
  return `job ${topic} ${id} ${sender} ${body}\n`;
}

/** A duration as a person writes it: `10s`, `1500ms`. */
export function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A data line of a listing command: `<kind> <words...>` (topic, user, stat). */
export function item(kind: string, ...words: (string | number)[]): Line {
  return { code: 'line', text: `${kind} ${words.join(' ')}` };
}
