/**
 * Line framing: socket bytes in, one frame per line out, in order.
 *
 * Each chunk is read as a latin1 string, one character per byte: nothing is
 * lost, lengths are byte counts, and each line is checked and decoded as
 * UTF-8 only once it is whole (a lenient decoder would turn invalid bytes
 * into U+FFFD, and `err encoding` could not be told from a real U+FFFD). A
 * chunk that is all ASCII, the common case, needs no check per line. The
 * unfinished end of a line is kept only up to the limit: past it, the rest
 * of the line is counted and dropped, so an endless line costs a bounded
 * amount of memory and still yields one frame, `toolong`.
 *
 * Telnet commands are removed first (unless the bytes are no telnet
 * session's: a web POST's body); a UTF-8 byte-order mark at the very start
 * (Windows editors write one) is dropped; a telnet DO TIMING-MARK becomes a
 * frame of its own, in order with the lines around it.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { TelnetFilter } from './telnet.js';

export type Frame =
  | { kind: 'line'; text: string }
  | { kind: 'toolong'; bytes: number }
  | { kind: 'encoding' }
  | { kind: 'timing-mark' };

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const CR = 0x0d;
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Turns one whole line (latin1, without its LF and a CR before it) into a
 * frame. A line of exactly maxLine bytes is accepted.
 */
export function decodeLine(raw: string, maxLine: number, ascii = false): Frame {
  if (raw.length > maxLine) return { kind: 'toolong', bytes: raw.length };
  if (ascii || !NON_ASCII.test(raw)) return { kind: 'line', text: raw };
  const bytes = Buffer.from(raw, 'latin1');
  if (!isUtf8(bytes)) return { kind: 'encoding' };
  return { kind: 'line', text: bytes.toString('utf8') };
}

/** Socket bytes in (write/end), frames out (onFrame), then onEnd once. */
export class LineFramer {
  readonly #telnet: TelnetFilter | undefined;
  readonly #maxLine: number;
  readonly #onFrame: (frame: Frame) => void;
  readonly #onEnd: () => void;
  /** The unfinished line, at most maxLine + 1 bytes (room for a CR). */
  #partial = '';
  #partialAscii = true;
  /** The unfinished line is over the limit: its length, its bytes dropped. */
  #over = 0;
  /** The first bytes, held until they are known not to be (part of) a BOM. */
  #start: Buffer | undefined = Buffer.alloc(0);
  #ended = false;

  constructor(maxLine: number, onFrame: (frame: Frame) => void, onEnd: () => void, telnet = true) {
    this.#telnet = telnet ? new TelnetFilter() : undefined;
    this.#maxLine = maxLine;
    this.#onFrame = onFrame;
    this.#onEnd = onEnd;
  }

  write(chunk: Buffer): void {
    if (this.#ended) return;
    if (this.#telnet === undefined) {
      this.#feed(chunk);
      return;
    }
    const data = this.#telnet.filter(chunk);
    let from = 0;
    for (const mark of this.#telnet.marks) {
      this.#feed(data.subarray(from, mark));
      this.#onFrame({ kind: 'timing-mark' });
      from = mark;
    }
    this.#feed(from === 0 ? data : data.subarray(from));
  }

  /** End of input: a last line without LF is still a line. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#telnet !== undefined) this.#feed(this.#telnet.end());
    if (this.#start !== undefined && this.#start.length > 0) this.#split(this.#start);
    if (this.#partial.length > 0 || this.#over > 0) this.#finish('', true);
    this.#onEnd();
  }

  #feed(data: Buffer): void {
    if (this.#start !== undefined) {
      const start = Buffer.concat([this.#start, data]);
      if (start.length < BOM.length && BOM.subarray(0, start.length).equals(start)) {
        this.#start = start;
        return;
      }
      this.#start = undefined;
      this.#split(start.subarray(0, BOM.length).equals(BOM) ? start.subarray(BOM.length) : start);
      return;
    }
    this.#split(data);
  }

  #split(data: Buffer): void {
    if (data.length === 0) return;
    const ascii = isAscii(data);
    const text = data.toString('latin1');
    let from = 0;
    for (let lf = text.indexOf('\n'); lf !== -1; lf = text.indexOf('\n', from)) {
      this.#finish(text.slice(from, lf), ascii);
      from = lf + 1;
    }
    if (from < text.length) this.#keep(text.slice(from), ascii);
  }

  /** Keeps the start of an unfinished line, or counts it once it is too long. */
  #keep(piece: string, ascii: boolean): void {
    if (this.#over > 0 || this.#partial.length + piece.length > this.#maxLine + 1) {
      this.#over += this.#partial.length + piece.length;
      this.#partial = '';
      return;
    }
    this.#partial += piece;
    this.#partialAscii &&= ascii;
  }

  /** The line ends with `piece`. */
  #finish(piece: string, ascii: boolean): void {
    if (this.#over > 0 || this.#partial.length + piece.length > this.#maxLine + 1) {
      const bytes = this.#over + this.#partial.length + piece.length;
      this.#over = 0;
      this.#partial = '';
      this.#partialAscii = true;
      this.#onFrame({ kind: 'toolong', bytes });
      return;
    }
    let line = this.#partial.length > 0 ? this.#partial + piece : piece;
    const lineAscii = ascii && this.#partialAscii;
    this.#partial = '';
    this.#partialAscii = true;
    if (line.charCodeAt(line.length - 1) === CR) line = line.slice(0, -1);
    this.#onFrame(decodeLine(line, this.#maxLine, lineAscii));
  }
}
