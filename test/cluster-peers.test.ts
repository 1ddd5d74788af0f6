/**
 * The daemons of a cluster asking one another (cluster/peers.ts), on a
 * NATS and a key-value bucket in memory that route as nats-server does
 * (a question to no one gets status 503), and on a clock the test moves:
 * answers in chunks, daemons gone, silent or answering nonsense, claims of
 * a reply, and the bucket of daemons. cluster.test.ts runs the same over
 * real nats-server nodes.
 */
import t from 'tap';
import { mock } from 'node:test';
import type { KV, KvEntry, Msg, NatsConnection } from 'nats';
import { answerChunks, GONE_MS, Peers } from '../src/cluster/peers.js';
import type { Answerer } from '../src/cluster/peers.js';
import { questionOf, rowsOf } from '../src/handlers/views.js';
import type { ConnectionRow, Question } from '../src/handlers/views.js';
import type { Logger } from '../src/log.js';
import { mockTimers } from './mock-timers.js';

type Callback = (error: Error | null, msg: Msg) => void;

/** A message as nats.js hands it over; a status (503) comes with no data. */
function message(subject: string, data: string, reply: string, status?: number): Msg {
  const headers = status === undefined ? undefined : { hasError: true, code: status };
  return { subject, reply, data: new TextEncoder().encode(data), headers, json: () => JSON.parse(data) as unknown, string: () => data } as unknown as Msg;
}

/** Subjects routed in memory, a turn later: `a.*` takes one more token; a message to no one with a reply subject gets status 503 there. */
class Mesh {
  readonly subscribers = new Map<string, Callback>();

  connection(): NatsConnection {
    return {
      subscribe: (subject: string, { callback }: { callback: Callback }) => this.subscribers.set(subject, callback),
      publish: (subject: string, data = '', options?: { reply?: string }) => this.publish(subject, data, options?.reply ?? ''),
    } as unknown as NatsConnection;
  }

  #route(subject: string): Callback | undefined {
    return this.subscribers.get(subject) ?? this.subscribers.get(`${subject.slice(0, subject.lastIndexOf('.'))}.*`);
  }

  publish(subject: string, data: string, reply = ''): void {
    const callback = this.#route(subject);
    if (callback !== undefined) queueMicrotask(() => callback(null, message(subject, data, reply)));
    else if (reply !== '') queueMicrotask(() => this.#route(reply)?.(null, message(reply, '', '', 503)));
  }
}

/** One bucket's entries and watchers, in memory. */
class Bucket {
  readonly #entries = new Map<string, string>();
  readonly #watchers = new Set<(entry: KvEntry) => void>();
  /** How many puts from now on fail. */
  failPuts = 0;

  #entry(key: string, operation: KvEntry['operation'], value: string): KvEntry {
    return { bucket: 's_daemons', key, operation, value: new TextEncoder().encode(value), created: new Date(), revision: 0, length: value.length, json: () => JSON.parse(value) as unknown, string: () => value } as KvEntry;
  }

  set(key: string, operation: KvEntry['operation'], value: string): void {
    if (operation === 'PUT') this.#entries.set(key, value);
    else this.#entries.delete(key);
    for (const watcher of this.#watchers) watcher(this.#entry(key, operation, value));
  }

  kv(): KV {
    return {
      put: async (key: string, value: string) => {
        if (this.failPuts-- > 0) throw new Error('503');
        this.set(key, 'PUT', value);
      },
      delete: async (key: string) => this.set(key, 'DEL', ''),
      watch: async ({ initializedFn }: { initializedFn: () => void }) => {
        const queue = [...this.#entries].map(([key, value]) => this.#entry(key, 'PUT', value));
        let wake: (() => void) | undefined;
        let stopped = false;
        const watcher = (entry: KvEntry): void => {
          queue.push(entry);
          wake?.();
        };
        this.#watchers.add(watcher);
        initializedFn();
        return {
          stop: () => {
            stopped = true;
            this.#watchers.delete(watcher);
            wake?.();
          },
          async *[Symbol.asyncIterator]() {
            while (!stopped) {
              const entry = queue.shift();
              if (entry !== undefined) yield entry;
              else await new Promise<void>((resolve) => (wake = resolve));
            }
          },
        };
      },
    } as unknown as KV;
  }
}

const logs: string[] = [];
const logger: Logger = { log: (level, text) => logs.push(`${level} ${text}`) };
let inboxes = 0;
const nats = { createInbox: () => `_INBOX.${++inboxes}` } as typeof import('nats');

interface Daemon {
  readonly peers: Peers;
  readonly asked: Question[];
  reachable: boolean;
}

/** A daemon on `mesh` and `bucket` whose answer to each question is `rows(question)`. */
async function daemon(mesh: Mesh, bucket: Bucket, id: string, rows: (question: Question) => readonly unknown[]): Promise<Daemon> {
  const asked: Question[] = [];
  const state = { reachable: true };
  const peers = new Peers({ id, stream: 's', logger, reachable: () => state.reachable });
  const answer: Answerer = async (question) => {
    asked.push(question);
    return rows(question);
  };
  await peers.start(nats, mesh.connection(), bucket.kv(), `host:${id}`, answer);
  return {
    peers,
    asked,
    get reachable() {
      return state.reachable;
    },
    set reachable(value: boolean) {
      state.reachable = value;
    },
  };
}

const conn = (id: number, patterns: string[] = []): ConnectionRow => ({ id, user: 'u', remote: '127.0.0.1:1', listener: 'tcp', pendingBytes: 0, patterns });

t.test('an answer is sent in chunks that fit in a NATS message', async (t) => {
  t.same(answerChunks([], 100), ['{"rows":[]}']);
  t.same(answerChunks([1, 2, 3], 100), ['{"rows":[1,2,3]}']);
  t.same(answerChunks(['aaaa', 'bbbb', 'cccc'], 14), ['{"rows":["aaaa","bbbb"],"more":true}', '{"rows":["cccc"]}']);
  t.same(answerChunks(['é'.repeat(4), 'b'], 10), ['{"rows":["éééé"],"more":true}', '{"rows":["b"]}'], 'bytes, not characters');
  t.same(answerChunks(['x'.repeat(20)], 5), [`{"rows":["${'x'.repeat(20)}"]}`], 'a row bigger than a chunk goes alone');
});

t.test('a question or an answer from the network is read only if it has the shape of one', async (t) => {
  const questions: [unknown, Question | undefined][] = [
    [{ op: 'who' }, { op: 'who' }],
    [{ op: 'topics', extra: 1 }, { op: 'topics' }],
    [{ op: 'receivers', topic: 'a.b' }, { op: 'receivers', topic: 'a.b' }],
    [{ op: 'receivers', topic: 'a.*' }, undefined],
    [{ op: 'jobs', group: 'g' }, { op: 'jobs', group: 'g' }],
    [{ op: 'jobs' }, undefined],
    [{ op: 'claim', id: 7, responder: 'bob' }, { op: 'claim', id: 7, responder: 'bob' }],
    [{ op: 'release', id: -1, responder: 'bob' }, undefined],
    [{ op: 'claim', id: 7 }, undefined],
    [{ op: 'drop' }, undefined],
    ['who', undefined],
    [null, undefined],
  ];
  for (const [value, question] of questions) t.same(questionOf(value), question, JSON.stringify(value));
  const rows: [Question, unknown, boolean][] = [
    [{ op: 'who' }, [conn(1, ['a'])], true],
    [{ op: 'who' }, [{ ...conn(1), user: null }], true],
    [{ op: 'who' }, [{ ...conn(1), patterns: [1] }], false],
    [{ op: 'who' }, [{ ...conn(1), pendingBytes: -1 }], false],
    [{ op: 'receivers', topic: 't' }, [['bob', 2]], true],
    [{ op: 'receivers', topic: 't' }, [['bob']], false],
    [{ op: 'topics' }, [{ name: 't', receivers: 1, lastId: null }, { name: 'u', receivers: 0, lastId: 4 }], true],
    [{ op: 'topics' }, [{ name: 't', receivers: 1 }], false],
    [{ op: 'jobs', group: 'g' }, [{ id: 4, worker: null, tries: 1 }], true],
    [{ op: 'jobs', group: 'g' }, [{ id: 4, worker: 7, tries: 1 }], false],
    [{ op: 'claim', id: 1, responder: 'b' }, ['taken'], true],
    [{ op: 'claim', id: 1, responder: 'b' }, ['mine'], false],
    [{ op: 'release', id: 1, responder: 'b' }, [], true],
    [{ op: 'release', id: 1, responder: 'b' }, [1], false],
    [{ op: 'who' }, { rows: [] }, false],
  ];
  for (const [question, value, read] of rows) t.equal(rowsOf(question, value) !== undefined, read, `${question.op} ${JSON.stringify(value)}`);
});

t.test('every daemon answers, by name; a long answer comes in chunks; a daemon gone is left out', async (t) => {
  const mesh = new Mesh();
  const bucket = new Bucket();
  // C's connections take 300 kB: two chunks.
  const long = Array.from({ length: 3 }, (_, i) => conn(i, [`${'p'.repeat(100_000)}${i}`]));
  const c = await daemon(mesh, bucket, 'c', () => long);
  const a = await daemon(mesh, bucket, 'a', () => [conn(1)]);
  const b = await daemon(mesh, bucket, 'b', () => []);
  bucket.set('gone', 'PUT', JSON.stringify({ name: 'host:gone' }));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(a.peers.size, 4, 'a knows b, c and the one gone');
  t.same(await a.peers.ask({ op: 'who' }), [
    { daemon: 'host:a', rows: [conn(1)] },
    { daemon: 'host:b', rows: [] },
    { daemon: 'host:c', rows: long },
  ]);
  t.same(b.asked, [{ op: 'who' }]);
  t.ok(logs.includes('info cluster: daemon host:b is here'));
  c.peers.stop();
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(logs.includes('info cluster: daemon host:c left'), 'a daemon that stops takes itself out of the bucket');
  t.same((await a.peers.ask({ op: 'topics' })).map(({ daemon }) => daemon), ['host:a', 'host:b']);
  for (const peers of [a.peers, b.peers]) peers.stop();
});

t.test('a daemon silent, answering nonsense or not asked at all: err busy, saying which', async (t) => {
  const clock = mockTimers({ apis: ['setTimeout', 'Date'] });
  t.teardown(() => mock.timers.reset());
  const mesh = new Mesh();
  const bucket = new Bucket();
  const a = await daemon(mesh, bucket, 'a', () => []);
  const other = async (reply: (msg: Msg) => void): Promise<void> => {
    bucket.set('o', 'PUT', JSON.stringify({ name: 'host:o' }));
    mesh.subscribers.set('_linebus.s.o', (_error, msg) => reply(msg));
    await new Promise((resolve) => setImmediate(resolve));
  };
  const busy = (text: RegExp): { code: string; message: RegExp } => ({ code: 'busy', message: text });
  await other((msg) => mesh.publish(msg.reply as string, 'nonsense'));
  await t.rejects(a.peers.ask({ op: 'who' }), busy(/^daemon host:o of the cluster could not answer \(not JSON\); try again$/));
  await other((msg) => mesh.publish(msg.reply as string, '{"error":"it broke"}'));
  await t.rejects(a.peers.ask({ op: 'who' }), busy(/could not answer \(it broke\)/));
  await other((msg) => mesh.publish(msg.reply as string, '{"rows":[{"id":"one"}]}'));
  await t.rejects(a.peers.ask({ op: 'who' }), busy(/could not answer \(not the rows asked for\)/));
  t.ok(logs.includes('warn cluster: daemon host:o answered who: not the rows asked for'));
  await other(() => undefined);
  const silent = a.peers.ask({ op: 'who' });
  await new Promise((resolve) => setImmediate(resolve));
  clock.tick(2000);
  await t.rejects(silent, busy(/^daemon host:o of the cluster did not answer within 2 s; try again$/));
  const stopping = a.peers.ask({ op: 'who' });
  await new Promise((resolve) => setImmediate(resolve));
  a.peers.stop();
  await t.rejects(stopping, busy(/^the server is stopping$/));
  a.reachable = false;
  await t.rejects(a.peers.ask({ op: 'who' }), busy(/^the cluster \(NATS\) is not reachable now; try again later$/));
  await t.rejects(a.peers.claim(1, 'bob'), busy(/not reachable/));
  const fresh = new Peers({ id: 'f', stream: 's', logger, reachable: () => true });
  await t.rejects(fresh.ask({ op: 'who' }), busy(/not reachable/), 'before it started');
});

t.test("a reply's claim: granted by the asker's daemon, wherever it is, or refused", async (t) => {
  const clock = mockTimers({ apis: ['setTimeout', 'Date'] });
  t.teardown(() => mock.timers.reset());
  const mesh = new Mesh();
  const bucket = new Bucket();
  const grants = new Map<string, string>();
  const grant = (id: string) => (question: Question): readonly unknown[] => (question.op === 'claim' ? [grants.get(id) ?? 'none'] : []);
  const a = await daemon(mesh, bucket, 'a', grant('a'));
  const b = await daemon(mesh, bucket, 'b', grant('b'));
  const c = await daemon(mesh, bucket, 'c', grant('c'));

  grants.set('b', 'granted');
  const release = await a.peers.claim(7, 'bob');
  t.type(release, 'function', 'b asked it: granted');
  release?.();
  await new Promise((resolve) => setImmediate(resolve));
  t.same(b.asked, [{ op: 'claim', id: 7, responder: 'bob' }, { op: 'release', id: 7, responder: 'bob' }], 'given back to b alone');
  t.same(c.asked, [{ op: 'claim', id: 7, responder: 'bob' }]);

  grants.set('b', 'taken');
  t.equal(await a.peers.claim(7, 'carol'), undefined, 'another reply has it');
  grants.clear();
  t.equal(await a.peers.claim(7, 'carol'), undefined, 'nobody waits');
  grants.set('a', 'granted');
  const local = await a.peers.claim(8, 'bob');
  local?.();
  await new Promise((resolve) => setImmediate(resolve));
  t.same(a.asked.slice(-2), [{ op: 'claim', id: 8, responder: 'bob' }, { op: 'release', id: 8, responder: 'bob' }], 'asked here: granted and given back here');

  grants.clear();
  mesh.subscribers.set('_linebus.s.c', () => undefined);
  const unanswered = a.peers.claim(9, 'bob');
  await new Promise((resolve) => setImmediate(resolve));
  clock.tick(7000);
  await t.rejects(unanswered, { code: 'busy', message: /^daemon host:c of the cluster did not answer within 7 s; try again$/ }, 'c may have it: not known');
  for (const peers of [a.peers, b.peers, c.peers]) peers.stop();
});

t.test('a question that is none, or that goes wrong, is answered with an error; a release wants no answer', async (t) => {
  const mesh = new Mesh();
  const bucket = new Bucket();
  const a = await daemon(mesh, bucket, 'a', (question) => {
    if (question.op === 'jobs') throw new Error('no jobs here');
    return [];
  });
  const answers: string[] = [];
  mesh.subscribers.set('test.*', (_error, msg) => answers.push(msg.string()));
  mesh.publish('_linebus.s.a', 'nonsense', 'test.1');
  mesh.publish('_linebus.s.a', '{"op":"jobs","group":"g"}', 'test.2');
  mesh.publish('_linebus.s.a', '{"op":"release","id":3,"responder":"bob"}');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(answers.sort(), ['{"error":"no jobs here"}', '{"error":"not a question of linebus"}']);
  t.same(a.asked, [{ op: 'jobs', group: 'g' }, { op: 'release', id: 3, responder: 'bob' }]);
  a.peers.stop();
});

t.test('the bucket of daemons: nonsense is ignored, one not heard of for a minute is gone, a failed put is retried', async (t) => {
  const clock = mockTimers({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  t.teardown(() => mock.timers.reset());
  const mesh = new Mesh();
  const bucket = new Bucket();
  const a = await daemon(mesh, bucket, 'a', () => []);
  bucket.set('odd', 'PUT', 'not json');
  bucket.set('nameless', 'PUT', '{}');
  bucket.set('late', 'PUT', JSON.stringify({ name: 'host:late' }));
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(logs.some((line) => /^warn cluster: key odd of the daemons bucket is not a linebus daemon \(.*JSON.*\); ignored$/.test(line)));
  t.ok(logs.includes('warn cluster: key nameless of the daemons bucket is not a linebus daemon (no name); ignored'));
  t.equal(a.peers.size, 2);
  bucket.failPuts = 1;
  clock.tick(20_000);
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(logs.includes('warn cluster: could not tell the other daemons this one is here (503); trying again in 20 s'));
  clock.tick(GONE_MS - 20_000 + 1);
  t.equal(a.peers.size, 1, 'late was not heard of for a minute');
  a.peers.stop();
});

t.test('a bucket just made may take no put for a moment: tried again, then given up with nothing started', async (t) => {
  const clock = mockTimers({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
  /** Starts a daemon whose first `failures` puts fail, moving the clock through the waits. */
  const start = async (failures: number): Promise<{ started: Promise<void>; mesh: Mesh; peers: Peers }> => {
    const bucket = new Bucket();
    bucket.failPuts = failures;
    const mesh = new Mesh();
    const peers = new Peers({ id: 'a', stream: 's', logger, reachable: () => true });
    const started = peers.start(nats, mesh.connection(), bucket.kv(), 'host:a', async () => []);
    for (const wait of [100, 200, 400, 800]) {
      await new Promise((resolve) => setImmediate(resolve));
      clock.tick(wait);
    }
    return { started, mesh, peers };
  };
  const late = await start(4);
  await late.started;
  t.equal(late.mesh.subscribers.size, 2, 'the fifth try went in: it answers');
  late.peers.stop();
  const never = await start(5);
  await t.rejects(never.started, { message: '503' });
  t.equal(never.mesh.subscribers.size, 0, 'nothing started');
  t.equal(never.peers.name, 'host:a');
});
