/**
 * The routing index: which receivers want a topic. Exact patterns live in a
 * map keyed by topic; wildcard patterns in a trie of segments, so finding
 * the receivers of a topic costs one map lookup plus a walk of at most
 * (segments x wildcard branches), whatever the number of subscriptions
 * (nats-server's sublist.go works the same way). Pure: the broker routes
 * with it, the journal reader filters with it.
 *
 * A trie node allocates its collections only when it needs them, and
 * keeps a single child in two fields rather than a Map: a deep pattern (up
 * to 128 segments) that shares no prefix costs a chain of small objects,
 * about 60 bytes a segment, not three collections per segment.
 */
import { isWildcardPattern } from './topic.js';

class TrieNode<R> {
  /** The one child, while there is only one. */
  #onlyKey: string | undefined;
  #only: TrieNode<R> | undefined;
  /** The children, once there are two or more. */
  #children: Map<string, TrieNode<R>> | undefined;
  /** Receivers of a pattern that ends at this node. */
  here: Set<R> | undefined;
  /** Receivers of `<path to here>.>`. */
  rest: Set<R> | undefined;

  get(segment: string): TrieNode<R> | undefined {
    return this.#children ? this.#children.get(segment) : segment === this.#onlyKey ? this.#only : undefined;
  }

  /** The child for `segment`, made if missing. */
  child(segment: string): TrieNode<R> {
    const found = this.get(segment);
    if (found) return found;
    const child = new TrieNode<R>();
    if (this.#children) {
      this.#children.set(segment, child);
    } else if (this.#only === undefined) {
      this.#onlyKey = segment;
      this.#only = child;
    } else {
      this.#children = new Map([[this.#onlyKey as string, this.#only], [segment, child]]);
      this.#onlyKey = undefined;
      this.#only = undefined;
    }
    return child;
  }

  delete(segment: string): void {
    if (this.#children) this.#children.delete(segment);
    else if (segment === this.#onlyKey) this.#onlyKey = this.#only = undefined;
  }

  *children(): Generator<[string, TrieNode<R>]> {
    if (this.#children) yield* this.#children;
    else if (this.#only) yield [this.#onlyKey as string, this.#only];
  }

  isEmpty(): boolean {
    return (this.#children ? this.#children.size === 0 : this.#only === undefined) && !this.here?.size && !this.rest?.size;
  }
}

const EMPTY: ReadonlySet<never> = new Set();

export class Sublist<R> {
  readonly #exact = new Map<string, Set<R>>();
  readonly #root = new TrieNode<R>();
  #wildcards = 0;

  /** Adds `receiver` under `pattern`; returns false if it was already there. */
  add(pattern: string, receiver: R): boolean {
    if (!isWildcardPattern(pattern)) {
      let receivers = this.#exact.get(pattern);
      if (!receivers) this.#exact.set(pattern, (receivers = new Set()));
      if (receivers.has(receiver)) return false;
      receivers.add(receiver);
      return true;
    }
    const segments = pattern.split('.');
    const last = segments.pop() as string;
    let node = this.#root;
    for (const segment of segments) node = node.child(segment);
    const set = last === '>' ? (node.rest ??= new Set()) : (node.child(last).here ??= new Set());
    if (set.has(receiver)) return false;
    set.add(receiver);
    this.#wildcards++;
    return true;
  }

  /** Removes `receiver` from `pattern`; returns false if it was not there. */
  remove(pattern: string, receiver: R): boolean {
    if (!isWildcardPattern(pattern)) {
      const receivers = this.#exact.get(pattern);
      if (!receivers?.delete(receiver)) return false;
      if (receivers.size === 0) this.#exact.delete(pattern);
      return true;
    }
    const segments = pattern.split('.');
    const last = segments[segments.length - 1] as string;
    const path: TrieNode<R>[] = [this.#root];
    const walk = last === '>' ? segments.slice(0, -1) : segments;
    for (const segment of walk) {
      const child = path[path.length - 1]?.get(segment);
      if (!child) return false;
      path.push(child);
    }
    const node = path[path.length - 1] as TrieNode<R>;
    if (!(last === '>' ? node.rest : node.here)?.delete(receiver)) return false;
    this.#wildcards--;
    // Prune nodes left empty, leaf first, so the trie does not grow forever.
    for (let i = path.length - 1; i > 0; i--) {
      const child = path[i] as TrieNode<R>;
      if (!child.isEmpty()) break;
      (path[i - 1] as TrieNode<R>).delete(walk[i - 1] as string);
    }
    return true;
  }

  /**
   * The receivers of `topic`, each once even if several of its patterns
   * match. The result must not be modified.
   */
  match(topic: string): ReadonlySet<R> {
    const exact = this.#exact.get(topic);
    if (this.#wildcards === 0) return exact ?? EMPTY;
    const found = new Set<R>(exact);
    this.#collect(this.#root, topic.split('.'), 0, found);
    return found;
  }

  #collect(node: TrieNode<R>, segments: readonly string[], index: number, found: Set<R>): void {
    if (index === segments.length) {
      if (node.here) for (const receiver of node.here) found.add(receiver);
      return;
    }
    // `>` matches one or more remaining segments.
    if (node.rest) for (const receiver of node.rest) found.add(receiver);
    const literal = node.get(segments[index] as string);
    if (literal) this.#collect(literal, segments, index + 1, found);
    const star = node.get('*');
    if (star) this.#collect(star, segments, index + 1, found);
  }

  /** Whether any pattern matches `topic`; allocates nothing but the split. */
  matches(topic: string): boolean {
    if (this.#exact.has(topic)) return true;
    return this.#wildcards > 0 && this.#any(this.#root, topic.split('.'), 0);
  }

  #any(node: TrieNode<R>, segments: readonly string[], index: number): boolean {
    if (index === segments.length) return (node.here?.size ?? 0) > 0;
    if ((node.rest?.size ?? 0) > 0) return true;
    const literal = node.get(segments[index] as string);
    if (literal && this.#any(literal, segments, index + 1)) return true;
    const star = node.get('*');
    return star !== undefined && this.#any(star, segments, index + 1);
  }

  /** Every exact topic and wildcard pattern with at least one receiver. */
  *patterns(): Generator<[pattern: string, receivers: ReadonlySet<R>]> {
    yield* this.#exact;
    yield* this.#walk(this.#root, []);
  }

  *#walk(node: TrieNode<R>, path: string[]): Generator<[string, ReadonlySet<R>]> {
    if (node.rest?.size) yield [[...path, '>'].join('.'), node.rest];
    if (path.length > 0 && node.here?.size) yield [path.join('.'), node.here];
    for (const [segment, child] of node.children()) yield* this.#walk(child, [...path, segment]);
  }
}
