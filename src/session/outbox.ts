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
 * are a Buffer.
 */
interface Held {
  text: string | Buffer | undefined;
  bytes: number;
  id: number;
}

/** The place of a reply that comes later. */
export interface Slot extends Held {
  /** The outbox's generation when reserved: a dropped slot is never filled. */
  readonly generation: number;
}

/** How long a client told `err slow` or `err shutdown` gets to read it. */
const CLOSE_GRACE_MS = 2000;

export class Outbox implements Flushable {
  readonly #link: Sink;
  readonly #turn: Turn;
  #ready = '';
  /** Output before `#ready`, once bytes were part of it (pages of the journal). */
  #readyChunks: (string | Buffer)[] | undefined;
  #readyBytes = 0;
  #readyLastId = 0;
  readonly #held = new Fifo<Held>();
  #heldBytes = 0;
  #endWhenFlushed = false;
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
    if (typeof text === 'string') {
      this.#ready += text;
      this.#readyBytes += bytes;
    } else {
      this.#readyBuffer(text);
    }
    if (id > 0) this.#readyLastId = id;
    this.#turn.dirty(this);
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
  fill(slot: Slot, text: string, bytes: number): void {
    if (slot.generation !== this.#generation) return;
    slot.text = text;
    slot.bytes = bytes;
    this.#heldBytes += bytes;
    let released = false;
    for (let head = this.#held.peek(); head?.text !== undefined; head = this.#held.peek()) {
      this.#held.take();
      this.#heldBytes -= head.bytes;
      if (typeof head.text === 'string') {
        this.#ready += head.text;
        this.#readyBytes += head.bytes;
      } else {
        this.#readyBuffer(head.text);
      }
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
    this.#readyBytes = 0;
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

  /** Half-closes the link once everything before this call is written. */
  endWhenFlushed(): void {
    this.#endWhenFlushed = true;
    this.#turn.dirty(this);
  }

  flush(): void {
    if (this.#readyBytes > 0) {
      for (const chunk of this.#readyChunks ?? []) this.#link.write(chunk);
      this.#readyChunks = undefined;
      if (this.#ready.length > 0) this.#link.write(this.#ready);
      this.lastWrittenId = this.#readyLastId || this.lastWrittenId;
      this.#ready = '';
      this.#readyBytes = 0;
    }
    if (this.#endWhenFlushed && this.#held.length === 0) {
      this.#endWhenFlushed = false;
      this.#link.end();
      // A client that does not read may never take the last line; do not
      // wait for it forever.
      const link = this.#link;
      setTimeout(() => link.destroy(), CLOSE_GRACE_MS).unref();
    }
  }
}
