/**
 * The packets of one MQTT connection, handled one at a time and in order.
 * While a command holds (the login, a SUBSCRIBE making a group, a kept
 * session's catch-up) the packets after it queue here, but for those that
 * may pass (acknowledgements, which free the window a catch-up waits on);
 * past --max-input bytes queued the link stops being read, as the line
 * protocol's input does (session/input.ts).
 */
import type { Link } from '../transport/link.js';
import { Fifo } from '../util/fifo.js';
import type { ClientPacket } from './codec.js';

/** A queued packet's cost besides its payload. */
const PACKET_OVERHEAD = 64;

function weight(packet: ClientPacket): number {
  return PACKET_OVERHEAD + (packet.length ?? 0);
}

export class PacketInput {
  readonly #link: Link;
  readonly #limits: { readonly maxInput: number };
  readonly #handle: (packet: ClientPacket) => void;
  readonly #passes: (packet: ClientPacket) => boolean;
  readonly #queue = new Fifo<ClientPacket>();
  #queuedBytes = 0;
  #paused = false;
  #holds = 0;
  #stopped = false;

  /** `passes`: a packet handled at once even while a command holds. */
  constructor(link: Link, limits: { readonly maxInput: number }, handle: (packet: ClientPacket) => void, passes: (packet: ClientPacket) => boolean) {
    this.#link = link;
    this.#limits = limits;
    this.#handle = handle;
    this.#passes = passes;
  }

  /** A command holds or packets wait. */
  get busy(): boolean {
    return this.#holds > 0 || this.#queue.length > 0;
  }

  push(packet: ClientPacket): void {
    if (this.#stopped) return;
    if (!this.busy || this.#passes(packet)) {
      this.#handle(packet);
      return;
    }
    this.#queue.push(packet);
    this.#queuedBytes += weight(packet);
    if (this.#queuedBytes >= this.#limits.maxInput && !this.#paused) {
      this.#paused = true;
      this.#link.pause();
    }
  }

  /** The packets after this point wait until `work` is done; `failed` hears of an error. */
  hold(work: () => Promise<void>, failed: (error: Error) => void): void {
    this.#holds++;
    work()
      .catch(failed)
      .finally(() => {
        this.#holds--;
        this.#drain();
      });
  }

  /** Drops what is queued and everything that comes later. */
  stop(): void {
    this.#stopped = true;
    this.#queue.clear();
    this.#queuedBytes = 0;
  }

  #drain(): void {
    while (this.#holds === 0 && !this.#stopped) {
      const packet = this.#queue.take();
      if (packet === undefined) break;
      this.#queuedBytes -= weight(packet);
      this.#handle(packet);
    }
    if (this.#paused && this.#queuedBytes < this.#limits.maxInput) {
      this.#paused = false;
      this.#link.resume();
    }
  }
}
