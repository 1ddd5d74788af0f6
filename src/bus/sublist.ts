/**
 * The routing index: which receivers want a topic. Exact patterns live in a
 * map keyed by topic; wildcard patterns in a trie of segments, so finding
 * the receivers of a send costs one map lookup plus a walk of at most
 * (segments x wildcard branches), whatever the number of subscriptions
 * (issue: "routing that scales"; nats-server's sublist.go works the same way).
 */
import { isWildcardPattern } from '../protocol/topic.js';

class TrieNode<R> {
  readonly children = new Map<string, TrieNode<R>>();
  /** Receivers of a pattern that ends at this node. */
  readonly here = new Set<R>();
  /** Receivers of `<path to here>.>`. */
  readonly rest = new Set<R>();

  isEmpty(): boolean {
    return this.children.size === 0 && this.here.size === 0 && this.rest.size === 0;
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
    let node = this.#root;
    for (const segment of segments.slice(0, -1)) {
      let child = node.children.get(segment);
      if (!child) node.children.set(segment, (child = new TrieNode()));
      node = child;
    }
    const last = segments[segments.length - 1] as string;
    let set: Set<R>;
    if (last === '>') {
      set = node.rest;
    } else {
      let child = node.children.get(last);
      if (!child) node.children.set(last, (child = new TrieNode()));
      set = child.here;
    }
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
      const child = path[path.length - 1]?.children.get(segment);
      if (!child) return false;
      path.push(child);
    }
    const node = path[path.length - 1] as TrieNode<R>;
    if (!(last === '>' ? node.rest : node.here).delete(receiver)) return false;
    this.#wildcards--;
    // Prune nodes left empty, leaf first, so the trie does not grow forever.
    for (let i = path.length - 1; i > 0; i--) {
      const child = path[i] as TrieNode<R>;
      if (!child.isEmpty()) break;
      (path[i - 1] as TrieNode<R>).children.delete(walk[i - 1] as string);
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
      for (const receiver of node.here) found.add(receiver);
      return;
    }
    // `>` matches one or more remaining segments.
    for (const receiver of node.rest) found.add(receiver);
    const literal = node.children.get(segments[index] as string);
    if (literal) this.#collect(literal, segments, index + 1, found);
    const star = node.children.get('*');
    if (star) this.#collect(star, segments, index + 1, found);
  }

  /** Every exact topic and wildcard pattern with at least one receiver. */
  *patterns(): Generator<[pattern: string, receivers: ReadonlySet<R>]> {
    yield* this.#exact;
    yield* this.#walk(this.#root, []);
  }

  *#walk(node: TrieNode<R>, path: string[]): Generator<[string, ReadonlySet<R>]> {
    if (node.rest.size > 0) yield [[...path, '>'].join('.'), node.rest];
    if (path.length > 0 && node.here.size > 0) yield [path.join('.'), node.here];
    for (const [segment, child] of node.children) yield* this.#walk(child, [...path, segment]);
  }
}
