/**
 * How a cluster maps onto JetStream (CLI.md, "Cluster"): one stream, whose
 * subjects are the topics under the stream's name (`linebus.orders.eu`),
 * so NATS's `*` and `>` mean what linebus's do. Pure; cluster.ts does the
 * talking.
 */
import { topicProblem } from '../protocol/topic.js';

/** The stream (and subject prefix) when --cluster-stream is not given. */
export const DEFAULT_STREAM = 'linebus';
/** The sender of a message some other NATS client published on the stream's subjects. */
export const FOREIGN_SENDER = 'nats';
/** Header with the linebus user who sent a message. */
export const SENDER_HEADER = 'Linebus-Sender';
/**
 * Header with the daemon's own name for a send (`<daemon start>-<number>`),
 * by which it knows its message when the copy brings it. Not Nats-Msg-Id:
 * a daemon never publishes a send twice, and JetStream would keep every
 * such id for its duplicate window, work for each message.
 */
export const SEND_HEADER = 'Linebus-Send';

export interface ClusterSettings {
  /** NATS servers to try, in order: nats://host:port (tls:// for TLS). */
  readonly urls: readonly string[];
  /** The JetStream stream, made if missing; also the subjects' first token. */
  readonly stream: string;
  /** Replicas of the stream when this daemon makes it. */
  readonly replicas: number;
}

/** The subject of a topic: the topic under the stream's name. */
export function subjectOf(stream: string, topic: string): string {
  return `${stream}.${topic}`;
}

/**
 * The topic of a stream message's subject, or why it cannot be journaled
 * (another NATS client may publish anything on the stream's subjects).
 */
export function topicOf(stream: string, subject: string): { topic: string } | { problem: string } {
  if (!subject.startsWith(`${stream}.`)) return { problem: `subject ${subject} is not under ${stream}.` };
  const topic = subject.slice(stream.length + 1);
  const problem = topicProblem(topic);
  return problem === undefined ? { topic } : { problem };
}

/** Why a message body cannot be a `msg` line's body, or undefined. */
export function bodyProblem(body: string): string | undefined {
  return /[\r\n]/.test(body) ? 'its body has a line break' : undefined;
}

/**
 * Why `name` cannot be the stream's name, or undefined. Stricter than
 * JetStream: the name also names the cursor bucket, and the first token
 * of every subject.
 */
export function streamNameProblem(name: string): string | undefined {
  return /^[A-Za-z0-9_-]{1,32}$/.test(name) ? undefined : 'a stream name is 1 to 32 letters, digits, - or _';
}

/**
 * Parses --cluster's comma-separated list: nats://, tls:// or bare
 * host:port entries (port 4222 when left out). Throws with what to fix.
 */
export function parseClusterUrls(list: string): string[] {
  const urls: string[] = [];
  for (const entry of list.split(',').map((s) => s.trim())) {
    if (entry === '') continue;
    const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new Error(`'${entry}' is not a NATS URL; write nats://host:4222`);
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') throw new Error(`'${entry}': the scheme is nats:// (or tls://), not ${url.protocol}//`);
    if (url.hostname === '') throw new Error(`'${entry}' has no host; write nats://host:4222`);
    urls.push(`${url.protocol}//${url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''}${url.host}${url.port ? '' : ':4222'}`);
  }
  if (urls.length === 0) throw new Error('no NATS URL; write nats://host:4222[,nats://host2:4222]');
  return urls;
}
