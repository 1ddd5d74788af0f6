/**
 * The few frames of the NATS client protocol that the cluster's hot paths
 * need (sends published with HPUB, their PubAcks and the copy's
 * deliveries as MSG and HMSG), read from raw bytes and written as
 * strings or, for the sends, as bytes (FrameWriter). Pure: nats-socket.ts does the talking; nats.js does the rest
 * (streams, consumers, buckets, requests) on a connection of its own.
 * https://docs.nats.io/reference/reference-protocols/nats-protocol
 */

/** The longest control line a server sends (nats-server's MAX_CONTROL_LINE_SIZE). */
export const MAX_CONTROL_LINE = 4096;
/** A message larger than this is not one a server sends: the stream is broken. */
export const MAX_FRAME_PAYLOAD = 64 * 1024 * 1024;

/** The fields of a server's INFO that the socket reads. */
export interface ServerInfo {
  readonly max_payload?: number;
  readonly tls_required?: boolean;
  readonly tls_available?: boolean;
  readonly auth_required?: boolean;
  readonly headers?: boolean;
  readonly server_id?: string;
}

/** One message to a subscription, its header block and payload as UTF-8 text (all the daemon reads of them). */
export interface MsgFrame {
  readonly subject: string;
  readonly sid: number;
  /** The reply subject, '' when none. */
  readonly reply: string;
  /** The header block (`NATS/1.0...\r\n\r\n`) of an HMSG; undefined for a MSG. */
  readonly headers: string | undefined;
  readonly payload: string;
}

export interface FrameHandler {
  info(info: ServerInfo): void;
  msg(frame: MsgFrame): void;
  ping(): void;
  pong(): void;
  /** -ERR '<message>', without the quotes. */
  err(message: string): void;
}

/** The server sent something that is not the NATS protocol: the connection must go. */
export class FrameError extends Error {}

const CR = 13;
const LF = 10;
const COLON = 58;
const SPACE = 32;
const TAB = 9;

/**
 * Reads frames from the bytes of one connection, in whatever pieces they
 * come. push() hands every whole frame to the handler and keeps the rest;
 * it throws a FrameError at the first byte that cannot be NATS, after
 * which the parser is of no more use.
 */
export class FrameParser {
  readonly #handler: FrameHandler;
  /** Bytes of a frame not yet whole. */
  #rest: Buffer | undefined;
  /** Where each field of a MSG begins and ends, kept from line to line. */
  readonly #starts = new Int32Array(5);
  readonly #ends = new Int32Array(5);

  constructor(handler: FrameHandler) {
    this.#handler = handler;
  }

  push(chunk: Buffer): void {
    const buffer = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk]);
    this.#rest = undefined;
    let at = 0;
    while (at < buffer.length) {
      const next = this.#frame(buffer, at);
      if (next < 0) break;
      at = next;
    }
    if (at < buffer.length) this.#rest = buffer.subarray(at);
  }

  /** Reads one frame at `at`; returns where the next begins, or -1 when the frame is not whole yet. */
  #frame(buffer: Buffer, at: number): number {
    const cr = buffer.indexOf(CR, at);
    if (cr < 0 || cr + 1 >= buffer.length) {
      if (buffer.length - at > MAX_CONTROL_LINE) throw new FrameError(`a control line longer than ${MAX_CONTROL_LINE} bytes`);
      return -1;
    }
    if (buffer[cr + 1] !== LF) throw new FrameError('a control line not ended by CRLF');
    if (cr - at > MAX_CONTROL_LINE) throw new FrameError(`a control line longer than ${MAX_CONTROL_LINE} bytes`);
    const plain = this.#plainMsg(buffer, at, cr);
    if (plain !== undefined) return plain;
    const line = buffer.toString('latin1', at, cr);
    const after = cr + 2;
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    switch (verb) {
      case 'MSG':
      case 'HMSG':
        return this.#msg(buffer, line.slice(space + 1), verb === 'HMSG', after);
      case 'PING':
        this.#handler.ping();
        return after;
      case 'PONG':
        this.#handler.pong();
        return after;
      case '+OK':
        return after;
      case '-ERR':
        this.#handler.err(line.slice(space + 1).trim().replace(/^'(.*)'$/, '$1'));
        return after;
      case 'INFO':
        this.#handler.info(parseInfo(line.slice(space + 1)));
        return after;
      default:
        throw new FrameError(`an unknown frame '${line.slice(0, 40)}'`);
    }
  }

  /**
   * A MSG or HMSG as servers write them (upper case, counts that are
   * numbers), read from the bytes without making the line a string;
   * undefined for any other line, which #frame reads (and refuses) the
   * long way. Returns what #emit returns.
   */
  #plainMsg(buffer: Buffer, at: number, cr: number): number | undefined {
    let from: number;
    if (buffer[at] === 77 && buffer[at + 1] === 83 && buffer[at + 2] === 71 && buffer[at + 3] === SPACE) from = at + 4;
    else if (buffer[at] === 72 && buffer[at + 1] === 77 && buffer[at + 2] === 83 && buffer[at + 3] === 71 && buffer[at + 4] === SPACE) from = at + 5;
    else return undefined;
    const withHeaders = from === at + 5;
    // Where each field begins and ends (at most five), in one pass over the
    // line's bytes; fields are apart by any run of spaces and tabs (a MSG
    // without a reply subject has two spaces where it would be).
    const starts = this.#starts;
    const ends = this.#ends;
    let fields = 0;
    let start = from;
    for (let i = from; i <= cr; i++) {
      const byte = i === cr ? SPACE : (buffer[i] as number);
      if (byte !== SPACE && byte !== TAB) continue;
      if (i > start) {
        if (fields === ends.length) return undefined;
        starts[fields] = start;
        ends[fields++] = i;
      }
      start = i + 1;
    }
    const counts = withHeaders ? 2 : 1;
    if (fields < 2 + counts || fields > 3 + counts) return undefined;
    const sid = sizeOf(buffer, starts[1] as number, ends[1] as number);
    const total = sizeOf(buffer, starts[fields - 1] as number, ends[fields - 1] as number);
    const headerSize = withHeaders ? sizeOf(buffer, starts[fields - 2] as number, ends[fields - 2] as number) : 0;
    if (total < 0 || headerSize < 0 || sid < 0 || headerSize > total || total > MAX_FRAME_PAYLOAD) return undefined;
    const end = cr + 2 + total;
    if (end + 2 > buffer.length) return -1;
    const reply = fields === 3 + counts ? buffer.toString('latin1', starts[2] as number, ends[2] as number) : '';
    return this.#emit(buffer, buffer.toString('latin1', starts[0] as number, ends[0] as number), sid, reply, withHeaders, headerSize, total, cr + 2);
  }

  /** MSG <subject> <sid> [reply] <bytes> / HMSG <subject> <sid> [reply] <header bytes> <bytes>, then the bytes and CRLF. */
  #msg(buffer: Buffer, args: string, withHeaders: boolean, at: number): number {
    const fields = fieldsOf(args);
    const counts = withHeaders ? 2 : 1;
    if (fields.length < 2 + counts || fields.length > 3 + counts) throw new FrameError(`a malformed ${withHeaders ? 'HMSG' : 'MSG'} '${args.slice(0, 60)}'`);
    const total = size(fields[fields.length - 1] as string);
    const headerSize = withHeaders ? size(fields[fields.length - 2] as string) : 0;
    const sid = size(fields[1] as string);
    if (total < 0 || headerSize < 0 || sid < 0 || headerSize > total || total > MAX_FRAME_PAYLOAD) {
      throw new FrameError(`a malformed ${withHeaders ? 'HMSG' : 'MSG'} '${args.slice(0, 60)}'`);
    }
    const reply = fields.length === 3 + counts ? (fields[2] as string) : '';
    return this.#emit(buffer, fields[0] as string, sid, reply, withHeaders, headerSize, total, at);
  }

  /** Hands over the message whose bytes begin at `at`; returns where the next frame begins, or -1 when they are not all here. */
  #emit(buffer: Buffer, subject: string, sid: number, reply: string, withHeaders: boolean, headerSize: number, total: number, at: number): number {
    const end = at + total;
    if (end + 2 > buffer.length) return -1;
    if (buffer[end] !== CR || buffer[end + 1] !== LF) throw new FrameError('a message not ended by CRLF after its byte count');
    this.#handler.msg({
      subject,
      sid,
      reply,
      headers: withHeaders ? buffer.toString('utf8', at, at + headerSize) : undefined,
      payload: total === headerSize ? '' : buffer.toString('utf8', at + headerSize, end),
    });
    return end + 2;
  }
}

/** The fields of a control line's arguments, between spaces or tabs (one space between each, as servers write them, without a regular expression). */
function fieldsOf(args: string): string[] {
  if (args.includes('\t') || args.includes('  ') || args.startsWith(' ') || args.endsWith(' ')) return args.split(/[ \t]+/).filter((field) => field !== '');
  return args.split(' ');
}

/** The decimal count in `buffer` from `from` to `to`, or -1. */
function sizeOf(buffer: Buffer, from: number, to: number): number {
  if (to <= from || to - from > 10) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = (buffer[i] as number) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** A decimal count, or -1. */
function size(text: string): number {
  if (text.length === 0 || text.length > 10) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function parseInfo(json: string): ServerInfo {
  try {
    const info: unknown = JSON.parse(json);
    if (typeof info === 'object' && info !== null && !Array.isArray(info)) return info as ServerInfo;
  } catch {
    // Said below.
  }
  throw new FrameError(`an INFO that is not a JSON object '${json.slice(0, 60)}'`);
}

/** A header block's first line when it has no status. */
const HEADER_START = 'NATS/1.0\r\n';
const NO_STATUS: { readonly code: number; readonly description: string } = Object.freeze({ code: 0, description: '' });

/** The status of a header block (`NATS/1.0 503`, `NATS/1.0 100 Idle Heartbeat`): 0 with no code. */
export function statusOf(headers: string): { readonly code: number; readonly description: string } {
  // Every message of the stream has no status: answered without a regular expression or a string.
  if (headers.startsWith(HEADER_START)) return NO_STATUS;
  const end = headers.indexOf('\r\n');
  const first = end < 0 ? headers : headers.slice(0, end);
  const match = /^NATS\/1\.0(?: (\d{3})(?: (.*))?)?$/.exec(first.trim());
  return match === null ? NO_STATUS : { code: Number(match[1] ?? 0), description: (match[2] ?? '').trim() };
}

/** The value of header `name` (its first, as written) in a header block, or undefined. */
export function headerValue(headers: string, name: string): string | undefined {
  // `name` where a line begins and a colon follows, found without making `\r\n<name>:` per call.
  let at = headers.indexOf(name);
  while (at >= 0 && !(at >= 2 && headers.charCodeAt(at - 1) === LF && headers.charCodeAt(at - 2) === CR && headers.charCodeAt(at + name.length) === COLON)) {
    at = headers.indexOf(name, at + 1);
  }
  if (at < 0) return undefined;
  const from = at + name.length + 1;
  const end = headers.indexOf('\r\n', from);
  return headers.slice(from, end < 0 ? headers.length : end).trim();
}

/** The smallest slab the writer cuts its turns' bytes from. */
const SLAB_BYTES = 256 * 1024;

/**
 * The frames written in one turn, as bytes in a slab, taken all at once:
 * no string per frame to concatenate, flatten and encode again when the
 * socket writes it. What take() handed out is never written over (the
 * socket may still hold it): the next frames go after it, or in a new slab.
 */
export class FrameWriter {
  #slab = Buffer.allocUnsafe(0);
  /** Where the bytes not taken yet begin, and end. */
  #start = 0;
  #end = 0;

  /** A frame written as text (nats-frames.ts's other writers). */
  text(frame: string): void {
    this.#room(frame.length * 3);
    this.#end += this.#slab.write(frame, this.#end);
  }

  /** HPUB with a header block made of `fields` (name, value, name, value...) and a reply subject; `bodySize` if the caller has it already. */
  hpub(subject: string, reply: string, fields: readonly string[], body: string, bodySize = Buffer.byteLength(body)): void {
    let headers = HEADER_START;
    let headerSize = HEADER_START.length + 2;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i] as string;
      const value = fields[i + 1] as string;
      headers += `${name}: ${value}\r\n`;
      headerSize += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
    }
    // One string, one write: each write into a Buffer costs more than the bytes it copies.
    const frame = `HPUB ${subject} ${reply} ${headerSize} ${headerSize + bodySize}\r\n${headers}\r\n${body}\r\n`;
    this.#room(frame.length * 3);
    this.#end += this.#slab.write(frame, this.#end);
  }

  /** The bytes written since the last take (empty when none). */
  take(): Buffer {
    const bytes = this.#slab.subarray(this.#start, this.#end);
    this.#start = this.#end;
    return bytes;
  }

  /** Forgets what was not taken. */
  clear(): void {
    this.#start = this.#end;
  }

  /** Makes room for `bytes` more after what is written, in a new slab if need be (what is not taken moves to it). */
  #room(bytes: number): void {
    if (this.#end + bytes <= this.#slab.length) return;
    const pending = this.#end - this.#start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (pending + bytes)));
    this.#slab.copy(slab, 0, this.#start, this.#end);
    this.#slab = slab;
    this.#start = 0;
    this.#end = pending;
  }
}

/** PUB, with or without a reply subject. */
export function pub(subject: string, reply: string, body: string): string {
  return `PUB ${subject}${reply === '' ? '' : ` ${reply}`} ${Buffer.byteLength(body)}\r\n${body}\r\n`;
}

export function sub(subject: string, sid: number): string {
  return `SUB ${subject} ${sid}\r\n`;
}

export function unsub(sid: number): string {
  return `UNSUB ${sid}\r\n`;
}

export const PING = 'PING\r\n';
export const PONG = 'PONG\r\n';

/** What a client says it is and may do, with the credentials of its URL. */
export interface ConnectOptions {
  readonly name: string;
  readonly version: string;
  readonly tls: boolean;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

export function connect(options: ConnectOptions): string {
  const credentials =
    options.token !== undefined ? { auth_token: options.token } : options.user !== undefined ? { user: options.user, pass: options.pass ?? '' } : {};
  return `CONNECT ${JSON.stringify({
    verbose: false,
    pedantic: false,
    tls_required: options.tls,
    name: options.name,
    lang: 'linebus',
    version: options.version,
    protocol: 1,
    headers: true,
    no_responders: true,
    ...credentials,
  })}\r\n`;
}
