/**
 * What a stream of the journal wants: messages of some patterns, each after
 * an id. Compiled once per stream: one pattern trie per distinct `after` (a
 * catch-up has two: its own start, and the journal's end for the patterns
 * already live), so a row costs a walk of each trie, not a match against
 * every pattern.
 */
import { Sublist } from '../protocol/sublist.js';
import { isWildcardPattern } from '../protocol/topic.js';

/**
 * What a reader may read. Most topics are decided by their name; a topic
 * whose every message is about another topic (the server's `$dead.<group>`
 * and `$reply.<id>`) is decided message by message.
 */
export interface Readable {
  topic(topic: string): 'all' | 'none' | 'each';
  /** For a topic decided message by message: whether this one may be read. */
  message(topic: string, body: string): boolean;
}

/** Messages of `pattern` with id > after. */
export interface Want {
  pattern: string;
  after: number;
}

export class Wants {
  readonly #groups: { after: number; patterns: Sublist<true> }[] = [];
  /** The lowest `after`: nothing before it is wanted. */
  readonly lowest: number;
  /** The one exact topic wanted, if that is all: read through its summary. */
  readonly topic: string | undefined;
  /** Every message after `lowest` is wanted: nothing to filter. */
  readonly all: boolean;

  /** What the reader may read; undefined: everything. */
  readonly #readable: Readable | undefined;

  constructor(wants: readonly Want[], readable?: Readable) {
    this.#readable = readable;
    const byAfter = new Map<number, Sublist<true>>();
    for (const want of wants) {
      let patterns = byAfter.get(want.after);
      if (!patterns) byAfter.set(want.after, (patterns = new Sublist()));
      patterns.add(want.pattern, true);
    }
    let lowest = Number.MAX_SAFE_INTEGER;
    for (const [after, patterns] of byAfter) {
      this.#groups.push({ after, patterns });
      if (after < lowest) lowest = after;
    }
    this.lowest = lowest;
    const first = wants[0]?.pattern;
    const single = first !== undefined && !isWildcardPattern(first) && wants.every((w) => w.pattern === first) && (readable?.topic(first) ?? 'all') === 'all';
    this.topic = single ? first : undefined;
    this.all = byAfter.size === 1 && wants.some((w) => w.pattern === '>') && readable === undefined;
  }

  get empty(): boolean {
    return this.#groups.length === 0;
  }

  /**
   * Whether every message of `topic` from id `from` on is wanted, without
   * a look at each (a page of one topic goes out whole); `topic` null: of
   * any topic.
   */
  allOf(topic: string | null, from: number): boolean {
    if (this.all) return from > this.lowest;
    if (topic === null || (this.#readable !== undefined && this.#readable.topic(topic) !== 'all')) return false;
    for (const group of this.#groups) if (from > group.after && group.patterns.matches(topic)) return true;
    return false;
  }

  /** Whether message `id` of `topic` is wanted; `body` is asked for only when its topic needs it. */
  has(id: number, topic: string, body: () => string): boolean {
    if (!lets(this.#readable, topic, body)) return false;
    for (const group of this.#groups) if (id > group.after && group.patterns.matches(topic)) return true;
    return false;
  }
}

/** Whether `readable` (none: no rules) lets this message through; `body` is asked for only when its topic needs it. */
export function lets(readable: Readable | undefined, topic: string, body: () => string): boolean {
  if (readable === undefined) return true;
  const reach = readable.topic(topic);
  return reach === 'all' || (reach === 'each' && readable.message(topic, body()));
}
