/**
 * A `recv` or `take` kept across reconnects, and the async iterator that
 * hands out what it receives: the Client resends its command after each
 * reconnect and pushes each delivery into it.
 */

/** A `msg` line. */
export interface Message {
  readonly topic: string;
  readonly id: number;
  readonly sender: string;
  readonly body: string;
  /** Its commit time, ms since the Unix epoch, with the `stamped` option (from a server that has `tags ts`). */
  readonly ts?: number;
}

/** A `job` line of a queue group. */
export interface Job extends Message {
  /** Done: the group never gives it out again. */
  ack(): Promise<void>;
  /** Give it back, at once or after `delay` (`30s`, `5m`). */
  nack(delay?: string): Promise<void>;
}

/** Where a `recv` or a new group starts: an id, a duration (`15m`) or a time, or the last n. */
export interface StartOptions {
  since?: number | string;
  last?: number;
}

export interface RecvOptions extends StartOptions {
  /** A durable cursor: the server keeps the place; `mark()` it. */
  as?: string;
}

export interface TakeOptions extends StartOptions {
  /** The group. */
  as: string;
  /** Jobs this connection holds at once (the server's default: 1). */
  max?: number;
  /** How long a job may stay un-acked (the group's, fixed at its creation). */
  wait?: string;
}

/** ` since <x>` or ` last <n>`, or nothing: the words of a start. */
export function startWords(options: StartOptions): string {
  if (options.since !== undefined) return ` since ${options.since}`;
  return options.last !== undefined ? ` last ${options.last}` : '';
}

export interface StreamHooks {
  /** The iteration begins: send the command. */
  start(stream: Stream<unknown>): void;
  /** The iteration ended, by `break` or a failure. */
  stop(stream: Stream<unknown>): void;
}

export class Stream<T> implements AsyncIterable<T> {
  /** The highest id delivered so far; 0 before any. */
  last = 0;
  readonly #queue: T[] = [];
  #wake: (() => void) | undefined;
  #failure: Error | undefined;

  constructor(
    readonly kind: 'msg' | 'job',
    readonly pattern: string,
    /** The command line, given the last id seen (for `since` after a reconnect). */
    readonly command: (last: number) => string,
    readonly make: (message: Message) => T,
    readonly hooks: StreamHooks,
  ) {}

  push(message: Message): void {
    this.#queue.push(this.make(message));
    this.#wake?.();
  }

  fail(error: Error): void {
    this.#failure = error;
    this.#wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    this.hooks.start(this);
    return {
      next: async (): Promise<IteratorResult<T>> => {
        while (this.#queue.length === 0 && this.#failure === undefined) await new Promise<void>((resolve) => (this.#wake = resolve));
        if (this.#queue.length > 0) return { value: this.#queue.shift() as T, done: false };
        this.hooks.stop(this);
        throw this.#failure;
      },
      return: async (): Promise<IteratorResult<T>> => {
        this.hooks.stop(this);
        return { value: undefined, done: true };
      },
    };
  }
}
