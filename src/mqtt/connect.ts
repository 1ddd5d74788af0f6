/**
 * A CONNECT (MQTT.md, "Identity and access", "Sessions"): the client
 * identifier, the will, who the client is (a linebus user and password,
 * or in open mode any name from loopback), then its session: taken over
 * from a connection that has it, kept or made, and CONNACK. A refusal is
 * a CONNACK return code, then the close. Then a kept session resumes.
 */
import { randomBytes } from 'node:crypto';
import type { IConnectPacket } from 'mqtt-packet';
import { userNameProblem } from '../protocol/topic.js';
import { isLoopback } from '../util/loopback.js';
import type { MqttClient } from './client.js';
import type { MqttServices } from './context.js';
import { who } from './context.js';
import type { ProtocolLevel } from './fields.js';
import type { MqttRefusal } from './refusals.js';
import type { MqttSession } from './session.js';
import type { Holder } from './sessions.js';
import { joinShare } from './shares.js';
import { willOf } from './wills.js';
import type { Will } from './wills.js';

/** CONNACK's return codes [MQTT-3.2.2.3]. */
export const CONNACK = { identifierRejected: 2, serverUnavailable: 3, badCredentials: 4, notAuthorized: 5 } as const;
export type ConnackRefusal = (typeof CONNACK)[keyof typeof CONNACK];

/**
 * The longest client identifier taken, in bytes. MQTT 3.1.1 servers must
 * take 23 and may take more; Mosquitto takes 65535, but an identifier is
 * a name in logs and in `cursors`.
 */
export const MAX_CLIENT_ID_BYTES = 256;

/** What a CONNECT accepted brings the connection. */
export interface Accepted {
  readonly user: string;
  readonly clientId: string;
  readonly level: ProtocolLevel;
  readonly session: MqttSession;
  /** CONNACK's session present: a kept session was there. */
  readonly present: boolean;
  readonly will: Will | undefined;
  /** Seconds; 0: none. */
  readonly keepAlive: number;
}

/** The connection a CONNECT came on, as connect() sees it. */
export interface Connecting extends Holder {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  /** It went away (or was closed) meanwhile. */
  readonly closing: boolean;
  /** CONNACK `code`, then the close; `why` is logged. */
  reject(code: ConnackRefusal, why: string, clientId: string): void;
  refuse(refusal: MqttRefusal): void;
  accept(accepted: Accepted): void;
}

export async function connect(conn: Connecting, packet: IConnectPacket, services: MqttServices): Promise<void> {
  const { sessions, limits, cursors } = services;
  const level: ProtocolLevel = packet.protocolVersion === 3 ? 3 : 4;
  const clean = packet.clean;
  let clientId = packet.clientId;
  if (Buffer.byteLength(clientId) > MAX_CLIENT_ID_BYTES) return conn.reject(CONNACK.identifierRejected, `a client identifier is at most ${MAX_CLIENT_ID_BYTES} bytes`, clientId);
  if (clientId === '') {
    // MQTT 3.1 wants 1 to 23 characters; 3.1.1 lets the server make one for a clean session [MQTT-3.1.3-8].
    if (!clean || level === 3) return conn.reject(CONNACK.identifierRejected, 'an empty client identifier needs clean session 1 and MQTT 3.1.1', clientId);
    clientId = `linebus-${randomBytes(8).toString('hex')}`;
  }
  const will = willOf(packet, limits.maxLine);
  if (!will.ok) return conn.refuse({ reason: will.reason, detail: `CONNECT will to ${JSON.stringify(packet.will?.topic)}` });
  const user = await identify(conn, packet, clientId, services);
  if (user === undefined || conn.closing) return;
  const key = { user, clientId };
  if (!clean && !sessions.isKept(key) && cursors.count(user) >= limits.maxCursors) {
    return conn.reject(CONNACK.serverUnavailable, `the user has ${limits.maxCursors} cursors and kept sessions, the most one may (--max-cursors)`, clientId);
  }
  const { session, present } = sessions.attach(key, !clean, conn, limits.mqttInflight);
  conn.accept({ user, clientId, level, session, present, will: will.value, keepAlive: packet.keepalive ?? 0 });
}

/**
 * After CONNACK, a kept session's shared subscriptions are joined again,
 * then the journal since it left is read for its subscriptions, then it is
 * live (Feed.resume); what was in flight went first (Outbound.resend).
 */
export async function resume(client: MqttClient, services: MqttServices): Promise<void> {
  const { session, user, outbound } = client;
  const { logger, reader, feed } = services;
  for (const share of session.shares.values()) {
    const why = await joinShare(user, outbound, share, services);
    if (why !== undefined) logger.log('warn', 'mqtt shared subscription not joined again', { ...who(client), filter: share.text, why });
  }
  const patterns = session.subscriptions.patterns();
  if (patterns.length === 0) return;
  const from = session.window.sentThrough;
  const first = reader.firstId();
  if (first > from + 1) logger.log('warn', 'mqtt: retention deleted messages a kept session had not been sent', { ...who(client), from: from + 1, to: first - 1 });
  await feed.resume(outbound, patterns, from);
}

/** The user the client is, or undefined once it was refused. */
async function identify(conn: Connecting, packet: IConnectPacket, clientId: string, services: MqttServices): Promise<string | undefined> {
  const { policy } = services;
  if (policy.open) {
    if (!isLoopback(conn.remoteAddress)) {
      conn.reject(CONNACK.notAuthorized, 'no users are set up, so only loopback clients may connect', clientId);
      return undefined;
    }
    // Anyone, by the name given or else by the client identifier (the sender of its messages).
    const name = packet.username ?? clientId;
    const problem = userNameProblem(name);
    if (problem === undefined) return name;
    conn.reject(packet.username === undefined ? CONNACK.identifierRejected : CONNACK.badCredentials, problem, clientId);
    return undefined;
  }
  if (packet.username === undefined) {
    conn.reject(CONNACK.notAuthorized, 'no user name, and the server has users', clientId);
    return undefined;
  }
  const refusal = await policy.login({ id: conn.id, remote: conn.remote, remoteAddress: conn.remoteAddress }, packet.username, packet.password?.toString('utf8') ?? '');
  if (refusal === undefined) return packet.username;
  conn.reject(refusal.code === 'busy' ? CONNACK.serverUnavailable : CONNACK.badCredentials, refusal.message, clientId);
  return undefined;
}
