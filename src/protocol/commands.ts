/**
 * The verb table (PROTOCOL.md, "Commands"): for each verb its usage, a
 * one-line description, whether it needs a login, its aliases, and how its
 * arguments are read. The Command type is derived from it, so a new verb is
 * one entry here plus one handler (handlers/index.ts will not compile
 * without it).
 */
import { checkTopic, takeOptions, Usage } from './args.js';
import type { Args, Start } from './args.js';
import { MAX_USER_BYTES } from './topic.js';

export interface VerbSpec<A> {
  readonly usage: string;
  /** What the verb does, in a few words. */
  readonly summary: string;
  /** False for the verbs accepted before `login`. */
  readonly login: boolean;
  readonly aliases?: readonly string[];
  /** Reads the arguments; throws Usage when they are wrong. */
  parse(args: Args): A;
}

function verb<A>(spec: VerbSpec<A>): VerbSpec<A> {
  return spec;
}

/** A verb whose one argument is a journal id. */
function idOnly(a: Args): { id: number } {
  const id = a.id();
  a.end();
  return { id };
}

/** Verbs in the order `help` lists them: the order a newcomer needs them. */
export const VERBS = {
  login: verb({
    usage: 'login <user> <password>',
    summary: 'authenticate this connection',
    login: false,
    parse(a) {
      const user = a.word();
      const password = a.rest();
      if (user === undefined || password === undefined) throw new Usage();
      if (Buffer.byteLength(user, 'utf8') > MAX_USER_BYTES) throw new Usage(`user name is over ${MAX_USER_BYTES} bytes`);
      return { user, password };
    },
  }),
  recv: verb({
    usage: 'recv <pattern> [as <cursor>] [since <id|duration|time> | last <n>]',
    summary: 'receive the messages of every topic that matches, live; since/last first replays the journal; as <cursor> resumes where the cursor is marked',
    login: true,
    parse(a) {
      const pattern = a.pattern();
      const cursor = a.keyword('as') ? a.name('cursor') : undefined;
      const next = a.peek();
      if (cursor !== undefined && next !== undefined && next !== 'since' && next !== 'last') {
        throw new Usage(`'${next}' after the cursor name: a cursor name has no spaces`);
      }
      const start: Start | undefined = a.atEnd() ? undefined : a.start();
      return { pattern, cursor, start };
    },
  }),
  replay: verb({
    usage: 'replay <pattern> since <id|duration|time> | replay <pattern> last <n>',
    summary: 'send journaled messages only, then ok replay <pattern> <count>',
    login: true,
    parse: (a) => ({ pattern: a.pattern(), start: a.start() }),
  }),
  leave: verb({
    usage: 'leave <pattern>',
    summary: 'stop receiving a pattern',
    login: true,
    parse(a) {
      const pattern = a.pattern();
      a.end();
      return { pattern };
    },
  }),
  send: verb({
    usage: 'send <topic> <message>',
    summary: 'publish a message; ok send <id> once it is journaled',
    login: true,
    parse(a) {
      const topic = a.word();
      const body = a.rest();
      if (topic === undefined || body === undefined) throw new Usage();
      return { topic: checkTopic(topic), body };
    },
  }),
  request: verb({
    usage: 'request <topic> [within <duration>] <message>',
    summary: 'send a message and wait for the first reply to it (default within 10s)',
    login: true,
    parse(a) {
      const word = a.word();
      if (word === undefined) throw new Usage();
      const topic = checkTopic(word);
      const withinMs = a.keyword('within') ? a.duration('within') : undefined;
      const body = a.rest();
      if (body === undefined) throw new Usage('the message is missing');
      return { topic, withinMs, body };
    },
  }),
  reply: verb({
    usage: 'reply <id> <answer>',
    summary: 'answer request <id>; the asker gets ok request <id> <you> <answer>',
    login: true,
    parse(a) {
      const id = a.id();
      const answer = a.rest();
      if (answer === undefined) throw new Usage('the answer is missing');
      return { id, answer };
    },
  }),
  mark: verb({
    usage: 'mark <cursor> <id>',
    summary: 'everything up to <id> is handled; recv <pattern> as <cursor> resumes after it',
    login: true,
    parse(a) {
      const cursor = a.name('cursor');
      const id = a.id();
      a.end();
      return { cursor, id };
    },
  }),
  cursors: verb({
    usage: 'cursors',
    summary: 'your cursors: name, pattern, mark and messages after it',
    login: true,
    parse: (a) => (a.end(), {}),
  }),
  forget: verb({
    usage: 'forget <cursor>',
    summary: 'delete a cursor',
    login: true,
    parse(a) {
      const cursor = a.name('cursor');
      a.end();
      return { cursor };
    },
  }),
  take: verb({
    usage: 'take <pattern> as <group> [since <start> | last <n>] [max <n>] [wait <duration>] [tries <n>]',
    summary: 'share the messages of a pattern with the other members of a group, as job lines to ack',
    login: true,
    parse(a) {
      const pattern = a.pattern();
      if (!a.keyword('as')) throw new Usage("take needs 'as <group>'");
      const group = a.name('group');
      return { pattern, group, ...takeOptions(a) };
    },
  }),
  ack: verb({
    usage: 'ack <id>',
    summary: 'job <id> is done; it is never delivered again',
    login: true,
    parse: idOnly,
  }),
  nack: verb({
    usage: 'nack <id> [<duration>]',
    summary: 'give job <id> back, to go out again at once or after the duration',
    login: true,
    parse(a) {
      const id = a.id();
      const delayMs = a.atEnd() ? 0 : a.duration('the delay');
      a.end();
      return { id, delayMs };
    },
  }),
  touch: verb({
    usage: 'touch <id>',
    summary: 'still working on job <id>: restart its wait',
    login: true,
    parse: idOnly,
  }),
  pending: verb({
    usage: 'pending <group>',
    summary: "a group's jobs out, waiting and delayed",
    login: true,
    parse(a) {
      const group = a.name('group');
      a.end();
      return { group };
    },
  }),
  ping: verb({
    usage: 'ping [text]',
    summary: 'liveness check, answered pong [text]',
    login: false,
    parse: (a) => ({ text: a.rest() }),
  }),
  tags: verb({
    usage: 'tags ts | tags none',
    summary: 'tags ts: every msg and job line to this connection starts @ts=<ms> (its commit time); tags none: no tags',
    login: false,
    parse(a) {
      const tag = a.word()?.toLowerCase();
      a.end();
      if (tag !== 'ts' && tag !== 'none') throw new Usage("the tags are 'ts' (the commit time) or 'none'");
      return { tag };
    },
  }),
  topics: verb({
    usage: 'topics [all]',
    summary: 'the topics in use, with receivers and last id; all: receivers on every daemon of a cluster',
    login: true,
    parse(a) {
      const all = a.keyword('all');
      a.end();
      return { all };
    },
  }),
  who: verb({
    usage: 'who [topic] [all]',
    summary: 'the logins receiving a topic; alone, every connection; all: on every daemon of a cluster',
    login: true,
    parse(a) {
      const first = a.word();
      const all = a.keyword('all');
      if (!a.atEnd()) throw new Usage();
      // `who all` is the cluster's view; the topic named all is `who all all`.
      if (first === undefined || (!all && first.toLowerCase() === 'all')) return { topic: undefined, all: first !== undefined };
      return { topic: checkTopic(first), all };
    },
  }),
  stats: verb({
    usage: 'stats',
    summary: 'the server counters',
    login: true,
    parse: (a) => (a.end(), {}),
  }),
  help: verb({
    usage: 'help [verb]',
    summary: 'the verbs; with a verb, its usage',
    login: false,
    parse(a) {
      const about = a.word()?.toLowerCase();
      a.end();
      return { about };
    },
  }),
  logoff: verb({
    usage: 'logoff',
    summary: 'end the session; the server closes the connection',
    login: false,
    aliases: ['quit'],
    parse: (a) => (a.end(), {}),
  }),
};

export type Verb = keyof typeof VERBS;

/** One parsed command: its canonical verb and its arguments. */
export type Command = { [V in Verb]: { verb: V } & ReturnType<(typeof VERBS)[V]['parse']> }[Verb];

/** The command of one verb. */
export type CommandOf<V extends Verb> = Extract<Command, { verb: V }>;

/** Every name a client may type, aliases included, to its canonical verb. */
export const VERB_NAMES: ReadonlyMap<string, Verb> = new Map(
  (Object.keys(VERBS) as Verb[]).flatMap((name) => [name, ...((VERBS[name] as VerbSpec<unknown>).aliases ?? [])].map((alias) => [alias, name] as const)),
);

/** The words `help` lists: each verb followed by its aliases. */
export const HELP_VERBS: readonly string[] = [...VERB_NAMES.keys()];
