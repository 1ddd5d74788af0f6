/**
 * The output side of one connection: lines in the order the protocol
 * promises. A reply that waits (a send until its commit, a login until its
 * password check) reserves its place; every line after it, replies and
 * `msg` lines alike, waits behind it. What is ready goes to the link in one
 * write at the end of the turn.
 */
import type { Flushable, Turn } from '../bus/turn.js';
import type { Sink } from '../transport/link.js';
import { Fifo } from '../util/fifo.js';

/**
 * Output waiting behind a reserved reply; `text` undefined: the reply
 * itself, not known yet. Bytes (a page of the journal, a telnet answer)
 * are a Buffer; a line of a page is its bytes from `start` to `end`.
 */
interface Held {
  text: string | Buffer | undefined;
  bytes: number;
  id: number;
  start?: number;
  end?: number;
}

/** The place of a reply that comes later. */
export interface Slot extends Held {
  /** The outbox's generation when reserved: a dropped slot is never filled. */
  readonly generation: number;
}

/**
 * How long a client told `err slow` or `err shutdown` gets to read it; and
 * how long one whose output simply ended may take nothing before it is
 * closed.
 */
const CLOSE_GRACE_MS = 2000;

/**
 * After the end, the link is destroyed once it has taken nothing for
 * CLOSE_GRACE_MS (`patient`: a reader that reads, however slowly, gets all
 * of a long answer), or CLOSE_GRACE_MS after the end whatever it takes
 * (one cut off, or a stopping server, does not wait for its reader).
 */
function destroyWhenDone(link: Sink, patient: boolean): void {
  let left = link.writableLength;
  const check = (): void => {
    const now = link.writableLength;
    if (patient && now > 0 && now < left) {
      left = now;
      setTimeout(check, CLOSE_GRACE_MS).unref();
    } else {
      link.destroy();
    }
  };
  setTimeout(check, CLOSE_GRACE_MS).unref();
}

export class Outbox implements Flushable {
  readonly #link: Sink;
  readonly #turn: Turn;
  #ready = '';
  /** Output before `#ready` or the run, once bytes were part of it (pages of the journal). */
  #readyChunks: (string | Buffer)[] | undefined;
  /**
   * Lines of one page of the journal, one after the other, after the chunks
   * (never with `#ready` beside it): the bytes from #runStart to #runEnd
   * of #run, written as one piece.
   */
  #run: Buffer | undefined;
  #runStart = 0;
  #runEnd = 0;
  #readyBytes = 0;
  /** Of them, lines of the journal's pages (messages delivered this turn): bytes shared with every receiver. */
  #readyLineBytes = 0;
  #readyLastId = 0;
  readonly #held = new Fifo<Held>();
  #heldBytes = 0;
  #endWhenFlushed = false;
  /** The end waits for a reader that reads (destroyWhenDone). */
  #patient = false;
  /** Counts dropUnsent calls; slots reserved before the last one are void. */
  #generation = 0;
  /** Journal id of the last `msg` line handed to the link. */
  lastWrittenId = 0;

  constructor(link: Sink, turn: Turn) {
    this.#link = link;
    this.#turn = turn;
  }

  /** Bytes on their way to the client: in the link, ready, held. */
  pendingBytes(): number {
    return this.#link.writableLength + this.#readyBytes + this.#heldBytes;
  }

  /**
   * Bytes the client is behind by: output of earlier turns it has not
   * taken (in the link), output held behind a reply not known yet, and
   * this turn's other output. Not the message lines this turn delivers
   * (the pages' own bytes, shared among receivers): the messages of a
   * commit, however large, go to the link at the end of the turn whatever
   * the client's pace, and count from the next turn on.
   */
  behindBytes(): number {
    return this.#link.writableLength + this.#heldBytes + this.#readyBytes - this.#readyLineBytes;
  }

  /** Whether a reserved reply is still unknown. */
  waiting(): boolean {
    return this.#held.length > 0;
  }

  /** Appends whole lines, as text or UTF-8; `id` is the journal id of their last msg line, or 0. */
  push(text: string | Buffer, bytes: number, id: number): void {
    if (this.#held.length > 0) {
      this.#held.push({ text, bytes, id });
      this.#heldBytes += bytes;
      return;
    }
    if (typeof text === 'string') this.#readyText(text, bytes);
    else this.#readyBuffer(text);
    if (id > 0) this.#readyLastId = id;
    this.#turn.dirty(this);
  }

  /** Appends bytes in pieces, written as one; `id` is the journal id of their last msg line. */
  pushPieces(pieces: readonly Buffer[], id: number): void {
    for (let k = 0; k < pieces.length; k++) {
      const piece = pieces[k] as Buffer;
      this.push(piece, piece.length, k === pieces.length - 1 ? id : 0);
    }
  }

  /** Appends the line of a page from `start` to `end`; lines that follow each other in it stay one piece. */
  pushLine(data: Buffer, start: number, end: number, id: number): void {
    if (this.#held.length > 0) {
      this.#held.push({ text: data, bytes: end - start, id, start, end });
      this.#heldBytes += end - start;
      return;
    }
    this.#readyLine(data, start, end);
    this.#readyLastId = id;
    this.#turn.dirty(this);
  }

  #readyText(text: string, bytes: number): void {
    if (this.#run !== undefined) this.#closeRun();
    this.#ready += text;
    this.#readyBytes += bytes;
  }

  #readyLine(data: Buffer, start: number, end: number): void {
    this.#readyBytes += end - start;
    this.#readyLineBytes += end - start;
    if (this.#run === data && this.#runEnd === start) {
      this.#runEnd = end;
      return;
    }
    if (this.#run !== undefined) this.#closeRun();
    else if (this.#ready.length > 0) {
      (this.#readyChunks ??= []).push(this.#ready);
      this.#ready = '';
    }
    this.#run = data;
    this.#runStart = start;
    this.#runEnd = end;
  }

  #closeRun(): void {
    (this.#readyChunks ??= []).push((this.#run as Buffer).subarray(this.#runStart, this.#runEnd));
    this.#run = undefined;
  }

  /** Appends raw bytes, in order with the lines. */
  pushBytes(data: Buffer): void {
    if (this.#held.length > 0) {
      this.#held.push({ text: data, bytes: data.length, id: 0 });
      this.#heldBytes += data.length;
      return;
    }
    this.#readyBuffer(data);
    this.#turn.dirty(this);
  }

  #readyBuffer(data: Buffer): void {
    if (this.#run !== undefined) this.#closeRun();
    const chunks = (this.#readyChunks ??= []);
    if (this.#ready.length > 0) chunks.push(this.#ready);
    chunks.push(data);
    this.#ready = '';
    this.#readyBytes += data.length;
  }

  reserve(): Slot {
    const slot: Slot = { text: undefined, bytes: 0, id: 0, generation: this.#generation };
    this.#held.push(slot);
    return slot;
  }

  /** The reserved reply is known: it and what waited behind it are ready. */
  fill(slot: Slot, text: string | Buffer, bytes: number): void {
    if (slot.generation !== this.#generation) return;
    slot.text = text;
    slot.bytes = bytes;
    this.#heldBytes += bytes;
    this.#release();
  }

  /** The reserved reply is known, the bytes of `data` from `start` to `end`: as fill(). */
  fillLine(slot: Slot, data: Buffer, start: number, end: number): void {
    if (slot.generation !== this.#generation) return;
    slot.text = data;
    slot.bytes = end - start;
    slot.start = start;
    slot.end = end;
    this.#heldBytes += end - start;
    this.#release();
  }

  /** Readies the held output up to the first reply still unknown. */
  #release(): void {
    let released = false;
    for (let head = this.#held.peek(); head?.text !== undefined; head = this.#held.peek()) {
      this.#held.take();
      this.#heldBytes -= head.bytes;
      if (typeof head.text === 'string') this.#readyText(head.text, head.bytes);
      else if (head.end !== undefined) this.#readyLine(head.text, head.start as number, head.end);
      else this.#readyBuffer(head.text);
      if (head.id > 0) this.#readyLastId = head.id;
      released = true;
    }
    if (released || this.#endWhenFlushed) this.#turn.dirty(this);
  }

  /** Drops everything not yet handed to the link (slow, shutdown, closed). */
  dropUnsent(): void {
    this.#generation++;
    this.#ready = '';
    this.#readyChunks = undefined;
    this.#run = undefined;
    this.#readyBytes = 0;
    this.#readyLineBytes = 0;
    this.#held.clear();
    this.#heldBytes = 0;
  }

  /**
   * Waits until this turn's output is in the link and the link holds at
   * most `bytes` (at least the socket's own high-water mark, 16 KB, so a
   * link over it has a `drain` to come), or `open` turns false.
   */
  async room(bytes: number, open: () => boolean, counters: { catchUpsWaiting: number }): Promise<void> {
    await this.#turn.ended();
    while (open() && this.#link.writableLength > bytes) {
      counters.catchUpsWaiting++;
      try {
        await this.#link.drained();
      } finally {
        counters.catchUpsWaiting--;
      }
    }
  }

  /** What is ready, in one piece or in pieces (written as one). */
  #take(): string | Buffer | (string | Buffer)[] {
    if (this.#readyChunks === undefined) {
      if (this.#run === undefined) {
        const text = this.#ready;
        this.#ready = '';
        return text;
      }
      const run = this.#run.subarray(this.#runStart, this.#runEnd);
      this.#run = undefined;
      return run;
    }
    if (this.#run !== undefined) this.#closeRun();
    const chunks = this.#readyChunks as (string | Buffer)[];
    if (this.#ready.length > 0) chunks.push(this.#ready);
    this.#readyChunks = undefined;
    this.#ready = '';
    return chunks;
  }

  /**
   * Half-closes the link once everything before this call is written;
   * `patient`: its reader may take as long as it reads (destroyWhenDone).
   */
  endWhenFlushed(patient: boolean): void {
    this.#endWhenFlushed = true;
    this.#patient = patient;
    this.#turn.dirty(this);
  }

  flush(): void {
    if (this.#readyBytes > 0) {
      const ready = this.#take();
      if (Array.isArray(ready)) this.#link.writev(ready);
      else this.#link.write(ready);
      this.lastWrittenId = this.#readyLastId || this.lastWrittenId;
      this.#readyBytes = 0;
      this.#readyLineBytes = 0;
    }
    if (this.#endWhenFlushed && this.#held.length === 0) {
      this.#endWhenFlushed = false;
      this.#link.end();
      // A client that does not read may never take the last line; do not
      // wait for it forever.
      destroyWhenDone(this.#link, this.#patient);
    }
  }
}
