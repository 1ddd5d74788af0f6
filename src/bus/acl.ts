/**
 * The access file (CLI.md, "Access file"; PROTOCOL.md, "Access control"):
 * Mosquitto's acl_file with the protocol's patterns. Parsed here into
 * rules; decisions per (user, topic) are cached, bounded, and thrown away
 * with the rules on a reload.
 */
import { covers, overlaps } from '../protocol/patterns.js';
import { matches, patternProblem } from '../protocol/topic.js';

type Access = 'read' | 'write' | 'readwrite' | 'deny';
const ACCESS: ReadonlySet<string> = new Set(['read', 'write', 'readwrite', 'deny']);

interface Rule {
  readonly access: Access;
  readonly pattern: string;
}

/** A line of the file that is not a rule, with its number (from 1). */
export class AclError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

/** What one user's rules say of a `recv`, `replay` or `take` pattern. */
export type Reach = 'all' | 'some' | 'none';

/** Decisions cached per user, at most this many topics each... */
const CACHED_TOPICS = 4096;
/** ...for at most this many users (open mode takes any name). */
const CACHED_USERS = 1024;

interface UserRules {
  readonly read: string[];
  readonly write: string[];
  readonly deny: string[];
  readonly readable: Map<string, boolean>;
  readonly writable: Map<string, boolean>;
}

export class Acl {
  readonly #byUser = new Map<string, Rule[]>();
  readonly #forEveryone: Rule[] = [];
  readonly #compiled = new Map<string, UserRules>();

  /** Parses the text of an access file; throws AclError at its first bad line. */
  static parse(text: string): Acl {
    const acl = new Acl();
    let rules: Rule[] | undefined;
    text.split('\n').forEach((raw, index) => {
      const line = index + 1;
      const words = raw.replace(/(^|\s)#.*$/, '').trim().split(/\s+/).filter((w) => w !== '');
      const [keyword, ...rest] = words;
      if (keyword === undefined) return;
      if (keyword === 'user') {
        if (rest.length !== 1) throw new AclError(line, "'user' takes one name: user <name>");
        rules = acl.#byUser.get(rest[0] as string) ?? [];
        acl.#byUser.set(rest[0] as string, rules);
        return;
      }
      if (keyword !== 'topic' && keyword !== 'pattern') {
        throw new AclError(line, `unknown keyword '${keyword}'; a line is 'user <name>', 'topic [read|write|readwrite|deny] <pattern>' or 'pattern [...] <pattern>'`);
      }
      const [access, pattern] = rest.length === 1 ? ['readwrite', rest[0]] : rest;
      if (rest.length < 1 || rest.length > 2 || !ACCESS.has(access as string) || ACCESS.has(pattern as string)) {
        throw new AclError(line, `'${keyword}' takes an access (read, write, readwrite or deny) and a pattern: ${keyword} read orders.>`);
      }
      const problem = patternProblem((pattern as string).replace(/%u/g, 'u'));
      if (problem !== undefined) throw new AclError(line, `'${pattern}': ${problem}`);
      const rule = { access: access as Access, pattern: pattern as string };
      if (keyword === 'pattern') acl.#forEveryone.push(rule);
      else if (rules === undefined) throw new AclError(line, "a 'topic' line before any 'user' line; put it under a user, or make it a 'pattern' line for everyone");
      else rules.push(rule);
    });
    return acl;
  }

  /** Whether `user` may receive messages of `topic`. */
  mayRead(user: string, topic: string): boolean {
    const rules = this.#rules(user);
    return decide(rules.readable, topic, () => rules.read.some((p) => matches(p, topic)) && !rules.deny.some((p) => matches(p, topic)));
  }

  /** Whether `user` may send to `topic`. */
  mayWrite(user: string, topic: string): boolean {
    const rules = this.#rules(user);
    return decide(rules.writable, topic, () => rules.write.some((p) => matches(p, topic)) && !rules.deny.some((p) => matches(p, topic)));
  }

  /**
   * Whether the topics of `pattern` are all readable to `user`, some of
   * them (or maybe some: a deny that overlaps a read rule only in part is
   * not worked out exactly), or none.
   */
  reach(user: string, pattern: string): Reach {
    const { read, deny } = this.#rules(user);
    if (!read.some((p) => overlaps(p, pattern)) || deny.some((p) => covers(p, pattern))) return 'none';
    if (read.some((p) => covers(p, pattern)) && !deny.some((p) => overlaps(p, pattern))) return 'all';
    return 'some';
  }

  #rules(user: string): UserRules {
    let compiled = this.#compiled.get(user);
    if (compiled !== undefined) return compiled;
    compiled = { read: [], write: [], deny: [], readable: new Map(), writable: new Map() };
    // %u stands for the login; a login that is itself a pattern gets no such rule.
    const own = /[.*>]/.test(user) ? [] : this.#forEveryone.map((r) => ({ access: r.access, pattern: r.pattern.replace(/%u/g, user) }));
    for (const { access, pattern } of [...(this.#byUser.get(user) ?? []), ...own]) {
      if (access === 'deny') compiled.deny.push(pattern);
      if (access === 'read' || access === 'readwrite') compiled.read.push(pattern);
      if (access === 'write' || access === 'readwrite') compiled.write.push(pattern);
    }
    if (this.#compiled.size >= CACHED_USERS) this.#compiled.clear();
    this.#compiled.set(user, compiled);
    return compiled;
  }
}

function decide(cache: Map<string, boolean>, topic: string, work: () => boolean): boolean {
  const known = cache.get(topic);
  if (known !== undefined) return known;
  if (cache.size >= CACHED_TOPICS) cache.clear();
  const decision = work();
  cache.set(topic, decision);
  return decision;
}
