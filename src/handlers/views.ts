/**
 * What the daemons of a cluster ask one another for the handlers (the
 * cluster carries it: cluster/peers.ts): a question, and the rows each
 * daemon answers with, made from its own state (answers.ts). Questions
 * and rows cross the network as JSON, so each has a check of its shape.
 * The asking daemon applies its own access rules to the rows.
 */
import type { Grant } from '../bus/requests.js';
import { topicProblem } from '../protocol/topic.js';

/** One connection of a daemon, as `who` shows it. */
export interface ConnectionRow {
  readonly id: number;
  readonly user: string | null;
  readonly remote: string;
  readonly listener: string;
  readonly pendingBytes: number;
  readonly patterns: readonly string[];
}

/** A login receiving a topic on a daemon, and with how many connections. */
export type ReceiverRow = readonly [user: string, connections: number];

/** A topic or pattern of a daemon, as `topics` shows it. */
export interface TopicRow {
  readonly name: string;
  readonly receivers: number;
  /** The last id of a topic sent to since the daemon started; null for one only received, or a pattern. */
  readonly lastId: number | null;
}

/** A job of a group that a daemon holds for one of its workers (or delayed by a nack there: no worker). */
export interface JobRow {
  readonly id: number;
  readonly worker: string | null;
  readonly tries: number;
}

export type Question =
  | { readonly op: 'who' }
  | { readonly op: 'receivers'; readonly topic: string }
  | { readonly op: 'topics' }
  | { readonly op: 'jobs'; readonly group: string }
  | { readonly op: 'claim'; readonly id: number; readonly responder: string }
  | { readonly op: 'release'; readonly id: number; readonly responder: string };

interface Rows {
  who: ConnectionRow;
  receivers: ReceiverRow;
  topics: TopicRow;
  jobs: JobRow;
  claim: Grant;
  release: never;
}

export type RowOf<Q extends Question> = Rows[Q['op']];

/** The questions asked of every daemon, answered with rows to show. */
export type ViewQuestion = Extract<Question, { op: 'who' | 'receivers' | 'topics' | 'jobs' }>;

/** One daemon's rows. */
export interface DaemonAnswer<R> {
  /** Its name in the cluster, `<host>:<port>`. */
  readonly daemon: string;
  readonly rows: readonly R[];
}

/**
 * The cluster as the handlers ask it (cluster/cluster.ts). Each method
 * rejects with a ProtocolError (`busy`) when the cluster or a daemon of it
 * does not answer.
 */
export interface ClusterView {
  /** This daemon's name in the cluster. */
  readonly name: string;
  /** Every daemon's rows (this one's too), by daemon name. */
  ask<Q extends ViewQuestion>(question: Q): Promise<DaemonAnswer<RowOf<Q>>[]>;
  /**
   * Claims the reply to request `id` for `responder` at the daemon of its
   * asker: a function that gives the claim back (the reply was not
   * stored), or undefined when nobody waits or another reply has it.
   */
  claim(id: number, responder: string): Promise<(() => void) | undefined>;
  /** The pattern of the cluster's group `name`; undefined if there is none. */
  groupPattern(name: string): Promise<string | undefined>;
  /** Brings the cluster's figures of `stats` up to date, waiting a second at most. */
  refresh(): Promise<void>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isString = (value: unknown): value is string => typeof value === 'string';

/** A question from the network, or undefined if it is not one. */
export function questionOf(value: unknown): Question | undefined {
  if (!isObject(value)) return undefined;
  switch (value.op) {
    case 'who':
    case 'topics':
      return { op: value.op };
    case 'receivers':
      return isString(value.topic) && topicProblem(value.topic) === undefined ? { op: 'receivers', topic: value.topic } : undefined;
    case 'jobs':
      return isString(value.group) ? { op: 'jobs', group: value.group } : undefined;
    case 'claim':
    case 'release':
      return isCount(value.id) && isString(value.responder) ? { op: value.op, id: value.id, responder: value.responder } : undefined;
    default:
      return undefined;
  }
}

const ROW_CHECKS: { readonly [O in Question['op']]: (row: unknown) => boolean } = {
  who: (row) =>
    isObject(row) &&
    isCount(row.id) &&
    (row.user === null || isString(row.user)) &&
    isString(row.remote) &&
    isString(row.listener) &&
    isCount(row.pendingBytes) &&
    Array.isArray(row.patterns) &&
    row.patterns.every(isString),
  receivers: (row) => Array.isArray(row) && row.length === 2 && isString(row[0]) && isCount(row[1]),
  topics: (row) => isObject(row) && isString(row.name) && isCount(row.receivers) && (row.lastId === null || isCount(row.lastId)),
  jobs: (row) => isObject(row) && isCount(row.id) && (row.worker === null || isString(row.worker)) && isCount(row.tries),
  claim: (row) => row === 'granted' || row === 'taken' || row === 'none',
  release: () => false,
};

/** The rows of an answer to `question` from the network, or undefined if they are not its rows. */
export function rowsOf<Q extends Question>(question: Q, value: unknown): RowOf<Q>[] | undefined {
  const check = ROW_CHECKS[question.op];
  return Array.isArray(value) && value.every(check) ? (value as RowOf<Q>[]) : undefined;
}
