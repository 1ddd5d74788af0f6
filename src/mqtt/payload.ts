/**
 * A PUBLISH payload (or a will's message) becomes a linebus message body,
 * which is one line of UTF-8 text (MQTT.md, "Messages"): no LF, CR or NUL,
 * at most --max-line bytes. Anything else closes the connection, and
 * nothing of it is journaled. An empty payload is an empty body.
 */
import { isUtf8 } from 'node:buffer';
import { accepted, refused } from './refusals.js';
import type { Checked } from './refusals.js';

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/** The body `payload` stands for, or why it cannot be one. */
export function payloadBody(payload: Uint8Array, maxLine: number): Checked<string> {
  if (payload.length > maxLine) return refused('payload-too-long');
  if (payload.includes(LF) || payload.includes(CR)) return refused('payload-newline');
  if (payload.includes(NUL)) return refused('payload-nul');
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  if (!isUtf8(bytes)) return refused('payload-not-utf8');
  return accepted(bytes.toString('utf8'));
}
