/**
 * Messages on their way to one connected MQTT client (MQTT.md,
 * "Messages"): live deliveries (a Receiver), a kept session's catch-up
 * from the journal (a MessageTarget of the Feed), jobs of its shared
 * subscriptions (a Worker), and retained messages on SUBSCRIBE. Each is
 * mapped to its MQTT name, given the QoS its subscriptions grant, and
 * offered to the session's window, which says what goes out now; the
 * client's acknowledgements free the window, ack jobs and let the
 * catch-up read on.
 */
import type { Delivery, Receiver } from '../bus/receiver.js';
import type { MessageTarget } from '../bus/feed.js';
import type { Message, Qos } from '../protocol/events.js';
import { Attachments } from '../queue/attachments.js';
import type { Worker } from '../queue/queue.js';
import type { RetainedMessage } from '../store/mqtt.js';
import { encode, encodePublish } from './codec.js';
import type { MqttServices } from './context.js';
import type { OutboundSend } from './inflight.js';
import { LINE_QOS, deliveryQos } from './qos.js';
import type { MqttRefusal } from './refusals.js';
import type { MqttSession, OutMessage } from './session.js';
import { filterMatches, mqttTopicName } from './topics.js';
import type { MqttFilter } from './topics.js';

/** What the outbound side needs of its connection. */
export interface OutboundLink {
  readonly closing: boolean;
  readonly pageBytes: number;
  /** Encoded packets, after everything before them. */
  sendBytes(bytes: Buffer): void;
  /** Reserves the place of packets known later. */
  laterBytes(): (bytes: Buffer) => void;
  /** Its output is in its link and the link has room; false once it closes. */
  room(): Promise<boolean>;
  /** Whether `bytes` more may wait for it besides its output; if not, it is cut off as slow. */
  admit(bytes: number): boolean;
  refuse(refusal: MqttRefusal): void;
}

/** What a message waiting in the window weighs against --max-pending, near enough. */
function weight(message: OutMessage): number {
  return message.name.length + message.body.length + 16;
}

export class Outbound implements Receiver, MessageTarget, Worker {
  readonly takes = 'messages';
  readonly user: string;
  /** Its shared subscriptions' memberships of queue groups. */
  readonly attachments = new Attachments();
  readonly #session: MqttSession;
  readonly #services: MqttServices;
  readonly #link: OutboundLink;
  readonly #patterns = new Set<string>();
  #liveSkipped = false;
  /** Bytes of the messages waiting in the window for room. */
  #waitingBytes = 0;
  #roomWaiters: (() => void)[] = [];

  constructor(user: string, session: MqttSession, services: MqttServices, link: OutboundLink) {
    this.user = user;
    this.#session = session;
    this.#services = services;
    this.#link = link;
  }

  /** The bus patterns it receives. */
  get patterns(): ReadonlySet<string> {
    return this.#patterns;
  }

  /** A resumed session: what was in flight goes again, DUP set, with its identifiers. */
  resend(): void {
    this.#write(this.#session.window.resend());
  }

  // --- Receiver ------------------------------------------------------------------

  deliver(message: Delivery): void {
    if (this.#liveSkipped || this.#link.closing || !this.#services.policy.mayReadMessage(this.user, message.topic, message.body)) return;
    this.#offerJournaled(message);
  }

  // --- MessageTarget (a kept session's catch-up) -----------------------------------

  get pageBytes(): number {
    return this.#link.pageBytes;
  }

  pushMessages(messages: readonly Message[]): void {
    for (const message of messages) this.#offerJournaled(message);
  }

  subscribe(pattern: string): void {
    if (this.#patterns.has(pattern)) return;
    this.#patterns.add(pattern);
    this.#services.broker.subscribe(this, pattern);
  }

  unsubscribe(pattern: string): void {
    if (this.#patterns.delete(pattern)) this.#services.broker.unsubscribe(this, pattern);
  }

  /** The link has room and nothing waits in the window: read on. False once closing. */
  async room(): Promise<boolean> {
    if (!(await this.#link.room())) return false;
    while (this.#session.window.waiting > 0 && !this.#link.closing) await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    return !this.#link.closing;
  }

  pauseLive(): void {
    this.#liveSkipped = true;
  }

  resumeLive(): void {
    this.#liveSkipped = false;
  }

  // --- Worker (shared subscriptions) ------------------------------------------------

  mayTake(job: Message): boolean {
    return this.#services.policy.mayReadMessage(this.user, job.topic, job.body);
  }

  pushJob(message: Message): boolean {
    if (this.#link.closing) return false;
    const name = mqttTopicName(message.topic);
    const granted = this.#shareQos(message.topic);
    if (name === undefined || granted === undefined) {
      // MQTT cannot name it, or a `+`/`#` first level must not match it
      // (a `$` topic): another member (a line one, perhaps) may take it.
      if (name === undefined) this.#services.mqtt.unmapped++;
      queueMicrotask(() => this.#jobDone(message.id, false));
      return true;
    }
    this.#offer({ ...message, name, retain: false, job: true }, deliveryQos(message.qos ?? LINE_QOS, granted), false);
    return true;
  }

  /** The highest QoS granted among the shared subscriptions whose filter matches `topic`. */
  #shareQos(topic: string): Qos | undefined {
    let best: Qos | undefined;
    for (const share of this.#session.shares.values()) if ((best === undefined || share.qos > best) && filterMatches(share.filter, topic)) best = share.qos;
    return best;
  }

  /** The job of message `id` is done with (`acked`), or given back for another member. */
  #jobDone(id: number, acked: boolean): void {
    for (const member of this.attachments.members()) {
      if (!member.held.has(id)) continue;
      if (acked) member.group.ack(member, id, () => {});
      else member.group.nack(member, id, 0, () => {});
      return;
    }
  }

  // --- retained messages ----------------------------------------------------------

  /** A retained message for a new (or repeated) subscription of `filter`, granted `granted`. */
  offerRetained(retained: RetainedMessage, filter: MqttFilter, granted: Qos): void {
    const name = mqttTopicName(retained.topic);
    if (name === undefined || !filterMatches(filter, retained.topic) || !this.#services.policy.mayReadMessage(this.user, retained.topic, retained.body)) return;
    const message: OutMessage = { id: 0, ts: retained.ts, topic: retained.topic, sender: retained.sender, body: retained.body, qos: retained.qos, name, retain: true, job: false };
    this.#offer(message, deliveryQos(retained.qos, granted), false);
  }

  // --- the client's acknowledgements ----------------------------------------------

  acked(kind: 'puback' | 'pubrec' | 'pubcomp', packetId: number): void {
    const outcome = this.#session.window[kind](packetId);
    switch (outcome.outcome) {
      case 'unknown':
        return;
      case 'wrong-flow':
        this.#link.refuse({ reason: 'ack-flow', detail: outcome.detail });
        return;
      case 'released':
        this.#session.changed(packetId);
        this.#write(outcome.sends);
        return;
      case 'done':
        this.#session.changed(packetId);
        if (outcome.message.job) this.#jobDone(outcome.message.id, true);
        this.#write(outcome.sends);
        this.#wake();
    }
  }

  /** The connection ended: no more deliveries, jobs back to their groups, what waited forgotten. */
  close(): void {
    for (const pattern of this.#patterns) this.#services.broker.unsubscribe(this, pattern);
    this.#patterns.clear();
    this.attachments.release();
    this.#session.window.disconnected((message) => message.job);
    this.#waitingBytes = 0;
    this.#wake();
  }

  // --- the window ---------------------------------------------------------------

  #offerJournaled(message: Message): void {
    const name = mqttTopicName(message.topic);
    if (name === undefined) {
      this.#services.mqtt.unmapped++;
      return;
    }
    const granted = this.#session.subscriptions.grantedFor(message.topic, message.id);
    if (granted === undefined) return;
    const out: OutMessage = { id: message.id, ts: message.ts, topic: message.topic, sender: message.sender, body: message.body, qos: message.qos, name, retain: false, job: false };
    this.#offer(out, deliveryQos(message.qos ?? LINE_QOS, granted), true);
  }

  #offer(message: OutMessage, qos: Qos, moves: boolean): void {
    this.#waitingBytes += weight(message);
    this.#write(this.#session.window.offer(message, qos, moves));
    // A client that stays full is cut off like a slow line client (its link closes).
    if (this.#waitingBytes > 0) this.#link.admit(this.#waitingBytes);
  }

  /** The window's sends as packets. */
  #write(sends: readonly OutboundSend<OutMessage>[]): void {
    const session = this.#session;
    for (const send of sends) {
      if (send.kind === 'pubrel') {
        this.#link.sendBytes(encode({ cmd: 'pubrel', messageId: send.packetId }, 4));
        session.changed(send.packetId);
        continue;
      }
      const message = send.message;
      if (!send.dup) this.#waitingBytes -= weight(message);
      const bytes = encodePublish(message.name, message.body, send.qos, send.dup, message.retain, send.packetId);
      if (send.packetId === undefined) {
        this.#link.sendBytes(bytes);
        // Its group hears of it once the job is its member's (after pushJob).
        if (message.job) queueMicrotask(() => this.#jobDone(message.id, true));
        continue;
      }
      session.changed(send.packetId);
      if (send.qos === 2 && session.kept && !send.dup && !message.job) {
        // MQTT.md: a QoS 2 message's row is committed before its PUBLISH is written.
        const fill = this.#link.laterBytes();
        session.afterCommit(() => fill(bytes));
      } else {
        this.#link.sendBytes(bytes);
      }
    }
    session.moved();
  }

  #wake(): void {
    if (this.#roomWaiters.length === 0 || (this.#session.window.waiting > 0 && !this.#link.closing)) return;
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
