/**
 * The input side of one connection: bytes from the link become frames,
 * handled one at a time and in order. While the session holds (a login, a
 * catch-up), frames queue here; past --max-input bytes the link stops being
 * read until the queue is worked off, so a client can never make the
 * daemon hold more than that (plus one read) of its input.
 */
import type { Stats } from '../bus/stats.js';
import { LineFramer } from '../protocol/framing.js';
import type { Frame } from '../protocol/framing.js';
import type { Link } from '../transport/link.js';
import { Fifo } from '../util/fifo.js';

/** A frame's cost in the queue besides its text. */
const FRAME_OVERHEAD = 16;

function frameBytes(frame: Frame): number {
  return FRAME_OVERHEAD + (frame.kind === 'line' ? frame.text.length : 0);
}

export class Input {
  readonly #link: Link;
  readonly #counters: Stats;
  readonly #framer: LineFramer;
  readonly #handle: (frame: Frame) => void;
  readonly #queue = new Fifo<Frame>();
  #queuedBytes = 0;
  #paused = false;
  #held = false;
  #stopped = false;
  /** The client will send nothing more. */
  ended = false;

  /** `handle` gets each frame in order; `onEnd` is called once at the end of input. */
  /** Input waiting behind a held command before the link stops being read (--max-input). */
  readonly #maxQueued: number;

  constructor(link: Link, maxLine: number, maxQueued: number, counters: Stats, handle: (frame: Frame) => void, onEnd: () => void) {
    this.#link = link;
    this.#counters = counters;
    this.#maxQueued = maxQueued;
    this.#handle = handle;
    this.#framer = new LineFramer(maxLine, (frame) => this.#onFrame(frame), () => {
      this.ended = true;
      onEnd();
    });
  }

  /** Whether frames are queued or being held. */
  get busy(): boolean {
    return this.#held || this.#queue.length > 0;
  }

  write(chunk: Buffer): void {
    this.#framer.write(chunk);
  }

  end(): void {
    this.#framer.end();
  }

  /** Frames after this one wait until release(). */
  hold(): void {
    this.#held = true;
  }

  /** Handles the frames that waited, until one holds again. */
  release(): void {
    this.#held = false;
    while (!this.#held && !this.#stopped) {
      const frame = this.#queue.take();
      if (frame === undefined) break;
      this.#queuedBytes -= frameBytes(frame);
      this.#handle(frame);
    }
    if (this.#paused && this.#queuedBytes < this.#maxQueued) {
      this.#paused = false;
      this.#link.resume();
    }
  }

  /** Drops what is queued and everything that comes later. */
  stop(): void {
    this.#stopped = true;
    this.#queue.clear();
    this.#queuedBytes = 0;
  }

  #onFrame(frame: Frame): void {
    if (this.#stopped) return;
    if (!this.busy) {
      this.#handle(frame);
      return;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frameBytes(frame);
    if (this.#queuedBytes > this.#counters.inputQueueMaxBytes) this.#counters.inputQueueMaxBytes = this.#queuedBytes;
    if (this.#queuedBytes >= this.#maxQueued && !this.#paused) {
      this.#paused = true;
      this.#link.pause();
    }
  }
}
