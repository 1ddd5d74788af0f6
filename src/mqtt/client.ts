/**
 * A connection whose CONNECT was accepted, as the packet handlers
 * (publish.ts, subscribe.ts) see it; connection.ts implements it.
 */
import type { ServerPacket } from './codec.js';
import type { ProtocolLevel } from './fields.js';
import type { Outbound } from './outbound.js';
import type { MqttRefusal } from './refusals.js';
import type { MqttSession } from './session.js';

export interface MqttClient {
  readonly id: number;
  readonly remote: string;
  readonly clientId: string;
  readonly user: string;
  readonly level: ProtocolLevel;
  readonly session: MqttSession;
  readonly outbound: Outbound;
  /** A packet for the client, after everything before it. */
  send(packet: ServerPacket): void;
  /** Reserves the place of a packet known later (or of none: undefined); every packet after it waits. */
  later(): (packet: ServerPacket | undefined) => void;
  /** Closes the connection for what the client did: logged, counted, nothing of it journaled. */
  refuse(refusal: MqttRefusal): void;
  /** Closes the connection for what the server could not do (logged). */
  fail(reason: string, detail: string): void;
  /** Runs `work`; the packets after this one wait until it is done, but for acknowledgements. */
  hold(work: () => Promise<void>): void;
}
