/**
 * The typed events a door gets from the bus (DESIGN.md, "Version 3"): a
 * message (delivered live, read from the journal, handed out as a job) and
 * a reply to what the door asked (an Ok with its verb, or a Refusal with
 * its code). The line protocol makes its lines of them in wire.ts; the web
 * door writes plain lines, server-sent events or JSON; no door reads a line
 * back apart.
 */
import type { ErrorCode } from './errors.js';

/** A journaled message (PROTOCOL.md, "Journal"). */
export interface Message {
  readonly id: number;
  /** Its commit time, in ms since the Unix epoch. */
  readonly ts: number;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /**
   * The QoS an MQTT client published it at, when not 1 (MQTT.md,
   * "Messages"); absent: 1, what every other door's messages count as.
   */
  readonly qos?: Qos;
}

/** MQTT's quality of service: at most once, at least once, exactly once. */
export type Qos = 0 | 1 | 2;

/** `ok <verb> [<text>] [journal starts at <id>]`. */
export interface Ok {
  readonly code: 'ok';
  readonly verb: string;
  /** The words after the verb (before any `journal starts at`), '' for none. */
  readonly text: string;
  /** `ok send`: the journal id of the message. */
  readonly id?: number;
  /** Retention took some of what was asked for: the journal's first id now (the line ends `journal starts at <id>`). */
  readonly journalStartsAt?: number;
}

/** `err <code> <text>`: the code is stable (errors.ts), the text says what to do next. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly text: string;
}

export type Reply = Ok | Refusal;

export function ok(verb: string, ...words: (string | number)[]): Ok {
  return { code: 'ok', verb, text: words.join(' ') };
}

/** `reply`, saying where the journal starts when `first` is given. */
export function startingAt(reply: Ok, first: number | undefined): Ok {
  return first === undefined ? reply : { ...reply, journalStartsAt: first };
}

/** `ok send <id>`, the reply a busy bus gives most. */
export function sent(id: number): Ok {
  return { code: 'ok', verb: 'send', text: String(id), id };
}

export function err(code: ErrorCode, text: string): Refusal {
  return { code, text };
}
