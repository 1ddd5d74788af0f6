/**
 * The daemons of a cluster, to one another (linebus(1), CLUSTER). While
 * it runs, each is in the key-value bucket `<stream>_daemons`: its key is
 * its id (made at each start), its value `{"name":"<host>:<port>"}`, put
 * again every 20 s and gone a minute after the last put. Each answers the
 * questions of handlers/views.ts on the subject `_linebus.<stream>.<id>`:
 * a question is JSON; its answer comes to the reply subject as chunks
 * `{"rows":[...],"more":true}` that fit in NATS's max_payload, the last
 * without `more` (or `{"error":"..."}`). A daemon that is gone makes NATS
 * say "no responders" at once and is left out; one that does not answer in
 * time makes the question fail with err busy.
 */
import type { KV, KvEntry, Msg, NatsConnection } from 'nats';
import type { Grant } from '../bus/requests.js';
import type { DaemonAnswer, Question, RowOf, ViewQuestion } from '../handlers/views.js';
import { questionOf, rowsOf } from '../handlers/views.js';
import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/errors.js';
import { followBucket } from './watch.js';

const SUBJECT_ROOT = '_linebus';
/** How often a daemon puts its entry again, and how long after its last put it counts as gone. */
const HEARTBEAT_MS = 20_000;
export const GONE_MS = 60_000;
/** The waits between tries of the first put; then it fails (and the set-up is tried again, later). */
const FIRST_PUT_RETRY_MS = [100, 200, 400, 800, undefined];
/** How long a daemon has to answer a question. */
const ANSWER_MS = 2000;
/** A claim may wait at the asker's daemon for its own send to know its id: as long as a PubAck (cluster.ts). */
const CLAIM_MS = 7000;
/** Rows of one answer message, in bytes at most: a quarter of NATS's default max_payload. */
export const CHUNK_BYTES = 256 * 1024;

/** This daemon's answer to a question (handlers/answers.ts). */
export type Answerer = (question: Question) => Promise<readonly unknown[]>;

/** A question sent, waiting for its answer. */
interface Asked {
  readonly daemon: string;
  readonly question: Question;
  readonly rows: unknown[];
  readonly timer: NodeJS.Timeout;
  /** The rows; undefined: the daemon is gone. */
  resolve(rows: unknown[] | undefined): void;
  reject(refusal: ProtocolError): void;
}

/** The messages of an answer: its rows in chunks of at most `maxBytes` (a row bigger than that is a chunk alone). */
export function answerChunks(rows: readonly unknown[], maxBytes: number): string[] {
  const chunks: string[][] = [[]];
  let bytes = 0;
  for (const row of rows) {
    const text = JSON.stringify(row);
    const size = Buffer.byteLength(text) + 1;
    if (bytes + size > maxBytes && bytes > 0) {
      chunks.push([]);
      bytes = 0;
    }
    (chunks[chunks.length - 1] as string[]).push(text);
    bytes += size;
  }
  return chunks.map((chunk, index) => `{"rows":[${chunk.join(',')}]${index < chunks.length - 1 ? ',"more":true' : ''}}`);
}

export interface PeersParts {
  /** This daemon's id in the bucket and the subjects. */
  readonly id: string;
  readonly stream: string;
  readonly logger: Logger;
  /** Whether the cluster can be asked now. */
  reachable(): boolean;
}

export class Peers {
  readonly #parts: PeersParts;
  #name = '';
  #nc: NatsConnection | undefined;
  #kv: KV | undefined;
  #answer: Answerer | undefined;
  /** Where answers come: <inbox>.<token>. */
  #inbox = '';
  #next = 0;
  readonly #asked = new Map<string, Asked>();
  /** The daemons of the bucket, by id, with when their entry was last put. */
  readonly #daemons = new Map<string, { readonly name: string; readonly seen: number }>();
  #heartbeat: NodeJS.Timeout | undefined;
  #stopWatch: (() => void) | undefined;

  constructor(parts: PeersParts) {
    this.#parts = parts;
  }

  get name(): string {
    return this.#name;
  }

  /** The daemons of the cluster known to be there, this one too. */
  get size(): number {
    return this.#others().length + 1;
  }

  /**
   * Puts itself in the bucket and learns who else is there (rejecting,
   * with nothing started, if it cannot), then answers questions.
   */
  async start(nats: typeof import('nats'), nc: NatsConnection, kv: KV, name: string, answer: Answerer): Promise<void> {
    this.#name = name;
    // A bucket just made takes no put until its replicas have a leader.
    for (const wait of FIRST_PUT_RETRY_MS) {
      try {
        await kv.put(this.#parts.id, JSON.stringify({ name }));
        break;
      } catch (error) {
        if (wait === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    this.#stopWatch = await followBucket(kv, (entry) => this.#apply(entry));
    this.#nc = nc;
    this.#kv = kv;
    this.#answer = answer;
    this.#inbox = nats.createInbox();
    nc.subscribe(`${this.#inbox}.*`, { callback: (_error, msg) => this.#answered(msg) });
    nc.subscribe(this.#subject(this.#parts.id), { callback: (_error, msg) => this.#question(msg) });
    this.#heartbeat = setInterval(() => void this.#put(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.#heartbeat);
    this.#stopWatch?.();
    // Best effort: an entry left behind is gone a minute later.
    this.#kv?.delete(this.#parts.id).catch(() => undefined);
    for (const [token, asked] of this.#asked) this.#settle(token, asked).reject(new ProtocolError('busy', 'the server is stopping'));
  }

  /** Every daemon's rows (this one's too), by daemon name. */
  async ask<Q extends ViewQuestion>(question: Q): Promise<DaemonAnswer<RowOf<Q>>[]> {
    this.#mustReach();
    const answers = await Promise.all([
      this.#local(question).then((rows) => ({ daemon: this.#name, rows })),
      ...this.#others().map(([id, name]) => this.#ask(id, name, question, ANSWER_MS)),
    ]);
    const present = answers.filter((answer) => answer !== undefined) as DaemonAnswer<unknown>[];
    return present.sort((a, b) => (a.daemon < b.daemon ? -1 : 1)) as DaemonAnswer<RowOf<Q>>[];
  }

  /** Claims the reply to request `id` at every daemon; the one whose client asked it grants it, or says another has it. */
  async claim(id: number, responder: string): Promise<(() => void) | undefined> {
    this.#mustReach();
    const question = { op: 'claim', id, responder } as const;
    const release = { op: 'release', id, responder } as const;
    const others = this.#others();
    return new Promise((resolve, reject) => {
      let left = others.length + 1;
      let failure: ProtocolError | undefined;
      // Only the asker's daemon has the request: its word is final.
      const heard = (grant: Grant | undefined, giveBack: () => void): void => {
        if (grant === 'granted') resolve(giveBack);
        else if (grant === 'taken') resolve(undefined);
        if (--left > 0) return;
        if (failure === undefined) resolve(undefined);
        else reject(failure);
      };
      void this.#local(question).then((rows) => heard(rows[0], () => void this.#local(release)));
      for (const [daemonId, name] of others) {
        this.#ask(daemonId, name, question, CLAIM_MS).then(
          (answer) => heard(answer?.rows[0], () => this.#tell(daemonId, release)),
          (refusal: ProtocolError) => {
            failure = refusal;
            heard(undefined, () => undefined);
          },
        );
      }
    });
  }

  #mustReach(): void {
    if (!this.#parts.reachable() || this.#answer === undefined) throw new ProtocolError('busy', 'the cluster (NATS) is not reachable now; try again later');
  }

  #subject(id: string): string {
    return `${SUBJECT_ROOT}.${this.#parts.stream}.${id}`;
  }

  #local<Q extends Question>(question: Q): Promise<RowOf<Q>[]> {
    return (this.#answer as Answerer)(question) as Promise<RowOf<Q>[]>;
  }

  /** The other daemons in the bucket, by id; entries not put again for a minute are gone. */
  #others(): [id: string, name: string][] {
    const now = Date.now();
    const others: [string, string][] = [];
    for (const [id, { name, seen }] of this.#daemons) {
      if (now - seen > GONE_MS) this.#daemons.delete(id);
      else if (id !== this.#parts.id) others.push([id, name]);
    }
    return others;
  }

  async #put(): Promise<void> {
    try {
      await (this.#kv as KV).put(this.#parts.id, JSON.stringify({ name: this.#name }));
    } catch (error) {
      this.#parts.logger.log('warn', `cluster: could not tell the other daemons this one is here (${(error as Error).message}); trying again in ${HEARTBEAT_MS / 1000} s`);
    }
  }

  #apply(entry: KvEntry): void {
    const known = this.#daemons.get(entry.key);
    if (entry.operation !== 'PUT') {
      this.#daemons.delete(entry.key);
      if (known !== undefined) this.#parts.logger.log('info', `cluster: daemon ${known.name} left`);
      return;
    }
    try {
      const { name } = entry.json<{ name?: unknown }>();
      if (typeof name !== 'string') throw new Error('no name');
      this.#daemons.set(entry.key, { name, seen: Date.now() });
      if (known === undefined && entry.key !== this.#parts.id) this.#parts.logger.log('info', `cluster: daemon ${name} is here`);
    } catch (error) {
      this.#parts.logger.log('warn', `cluster: key ${entry.key} of the daemons bucket is not a linebus daemon (${(error as Error).message}); ignored`);
    }
  }

  /** Sends `question` to daemon `id`; resolves to its rows, or to undefined if it is gone. */
  #ask<Q extends Question>(id: string, daemon: string, question: Q, waitMs: number): Promise<DaemonAnswer<RowOf<Q>> | undefined> {
    const token = String(++this.#next);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(token, asked).reject(new ProtocolError('busy', `daemon ${daemon} of the cluster did not answer within ${waitMs / 1000} s; try again`));
      }, waitMs);
      const asked: Asked = { daemon, question, rows: [], timer, resolve: (rows) => resolve(rows && { daemon, rows: rows as RowOf<Q>[] }), reject };
      this.#asked.set(token, asked);
      (this.#nc as NatsConnection).publish(this.#subject(id), JSON.stringify(question), { reply: `${this.#inbox}.${token}` });
    });
  }

  /** Sends `question` to daemon `id`, wanting no answer. */
  #tell(id: string, question: Question): void {
    (this.#nc as NatsConnection).publish(this.#subject(id), JSON.stringify(question));
  }

  #settle(token: string, asked: Asked): Asked {
    clearTimeout(asked.timer);
    this.#asked.delete(token);
    return asked;
  }

  /** A chunk of an answer, or NATS's "no responders". */
  #answered(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length + 1);
    const asked = this.#asked.get(token);
    if (asked === undefined) return;
    // NATS's status 503: nobody listens on the daemon's subject any more.
    if (msg.headers?.hasError) {
      this.#settle(token, asked).resolve(undefined);
      return;
    }
    let chunk: { rows?: unknown; more?: unknown; error?: unknown };
    try {
      chunk = msg.json();
    } catch {
      chunk = { error: 'not JSON' };
    }
    const rows = rowsOf(asked.question, chunk.rows);
    if (rows === undefined) {
      const why = typeof chunk.error === 'string' ? chunk.error : 'not the rows asked for';
      this.#parts.logger.log('warn', `cluster: daemon ${asked.daemon} answered ${asked.question.op}: ${why}`);
      this.#settle(token, asked).reject(new ProtocolError('busy', `daemon ${asked.daemon} of the cluster could not answer (${why}); try again`));
      return;
    }
    asked.rows.push(...rows);
    if (chunk.more !== true) this.#settle(token, asked).resolve(asked.rows);
  }

  /** A question of another daemon (or a release, which wants no answer). */
  #question(msg: Msg): void {
    let question: Question | undefined;
    try {
      question = questionOf(msg.json());
    } catch {
      question = undefined;
    }
    const respond = (chunks: string[]): void => {
      if (msg.reply) for (const chunk of chunks) (this.#nc as NatsConnection).publish(msg.reply, chunk);
    };
    if (question === undefined) {
      respond([JSON.stringify({ error: 'not a question of linebus' })]);
      return;
    }
    this.#local(question).then(
      (rows) => respond(answerChunks(rows, CHUNK_BYTES)),
      (error: Error) => respond([JSON.stringify({ error: error.message })]),
    );
  }
}
