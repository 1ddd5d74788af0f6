/**
 * Line framing: socket bytes in, one frame per line out, in order.
 *
 * split2 does the splitting, but it decodes UTF-8 leniently (invalid bytes
 * become U+FFFD, so `err encoding` could not be told apart from a real
 * U+FFFD) and its maxLength only looks at the unfinished end of a chunk.
 * So the bytes reach split2 as a latin1 string, one character per byte:
 * nothing is lost, lengths are byte counts, and each line is checked and
 * decoded as UTF-8 only once it is whole. Before that, telnet commands are
 * removed and every line is cut to at most maxLine + 2 bytes, so an endless
 * line costs a bounded amount of memory and still yields one frame (read as
 * `toolong`). The mapper given to split2 cannot throw.
 *
 * A UTF-8 byte-order mark at the very start (Windows editors write one) is
 * dropped, and a telnet DO TIMING-MARK becomes a frame of its own, in order
 * with the lines around it.
 */
import { isUtf8 } from 'node:buffer';
import split2 from 'split2';
import type { Transform } from 'node:stream';
import { TelnetFilter } from './telnet.js';

export type Frame =
  | { kind: 'line'; text: string }
  | { kind: 'toolong'; bytes: number }
  | { kind: 'encoding' }
  | { kind: 'timing-mark' };

const LF = 0x0a;
const LF_BYTE = Buffer.from([LF]);
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Turns one split line (latin1, its LF and a CR before it removed) into a
 * frame. A line of exactly maxLine bytes is accepted.
 */
export function decodeLine(raw: string, maxLine: number): Frame {
  if (raw.length > maxLine) return { kind: 'toolong', bytes: raw.length };
  if (!NON_ASCII.test(raw)) return { kind: 'line', text: raw };
  const bytes = Buffer.from(raw, 'latin1');
  if (!isUtf8(bytes)) return { kind: 'encoding' };
  return { kind: 'line', text: bytes.toString('utf8') };
}

/**
 * Keeps at most `keep` bytes of each line and drops the rest up to its LF.
 * Two bytes more than maxLine are kept so that a cut line still reads as
 * too long after split2 removes a CR before the LF.
 */
export class LineCap {
  readonly #keep: number;
  #lineBytes = 0;

  constructor(keep: number) {
    this.#keep = keep;
  }

  cap(chunk: Buffer): Buffer {
    // Parts are only collected once a line has to be cut; until then the
    // chunk goes through as it is.
    let parts: Buffer[] | undefined;
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      const end = lf === -1 ? chunk.length : lf + 1;
      const length = (lf === -1 ? chunk.length : lf) - start;
      if (this.#lineBytes + length > this.#keep) {
        parts ??= [chunk.subarray(0, start)];
        parts.push(chunk.subarray(start, start + Math.max(0, this.#keep - this.#lineBytes)));
        if (lf !== -1) parts.push(LF_BYTE);
      } else if (parts) {
        parts.push(chunk.subarray(start, end));
      }
      if (lf === -1) {
        this.#lineBytes += length;
        return parts ? Buffer.concat(parts) : chunk;
      }
      this.#lineBytes = 0;
      start = end;
    }
  }
}

/** Socket bytes in (write/end), frames out (onFrame), then onEnd once. */
export class LineFramer {
  readonly #telnet = new TelnetFilter();
  readonly #cap: LineCap;
  readonly #splitter: Transform;
  readonly #onFrame: (frame: Frame) => void;
  /** The first bytes, held until they are known not to be (part of) a BOM. */
  #start: Buffer | undefined = Buffer.alloc(0);
  #ended = false;

  constructor(maxLine: number, onFrame: (frame: Frame) => void, onEnd: () => void) {
    this.#cap = new LineCap(maxLine + 2);
    this.#onFrame = onFrame;
    // decodeStrings: false hands our latin1 strings to split2's decoder,
    // which passes strings through untouched. It emits a write's lines
    // before write() returns, so frames made here keep their place.
    this.#splitter = split2((raw: string) => decodeLine(raw, maxLine), { decodeStrings: false });
    this.#splitter.on('data', onFrame);
    this.#splitter.on('end', onEnd);
  }

  write(chunk: Buffer): void {
    if (this.#ended) return;
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
    this.#feed(this.#telnet.end());
    if (this.#start !== undefined && this.#start.length > 0) this.#split(this.#start);
    this.#splitter.end();
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
    const capped = this.#cap.cap(data);
    if (capped.length > 0) this.#splitter.write(capped.toString('latin1'));
  }
}
