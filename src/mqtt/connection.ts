/**
 * One MQTT connection, over any Link (TCP, TLS, `/mqtt`'s WebSocket): the
 * door's Connection (admitted, counted, listed by `who`, watched for
 * --login-timeout and --idle-timeout, told of shutdown). Bytes become
 * packets (codec.ts), handled in order through its PacketInput (held
 * behind a command, within --max-input). Packets out go through an Outlet
 * (--max-pending, cut off as slow). The will is published when the
 * connection ends without DISCONNECT.
 */
import type { Refusal } from '../protocol/events.js';
import { err } from '../protocol/events.js';
import type { Admission, Connection } from '../session/connection.js';
import { Outlet } from '../session/outlet.js';
import type { Link } from '../transport/link.js';
import { MqttDecoder, encode } from './codec.js';
import type { ClientPacket, ServerPacket } from './codec.js';
import { connect, resume } from './connect.js';
import type { Accepted, ConnackRefusal, Connecting } from './connect.js';
import type { MqttClient } from './client.js';
import type { MqttServices } from './context.js';
import { who } from './context.js';
import type { ProtocolLevel } from './fields.js';
import { PacketInput } from './input.js';
import { Outbound } from './outbound.js';
import type { OutboundLink } from './outbound.js';
import { publish, pubrel } from './publish.js';
import type { MqttRefusal } from './refusals.js';
import type { MqttSession } from './session.js';
import { subscribe, unsubscribe } from './subscribe.js';
import { publishWill } from './wills.js';
import type { Will } from './wills.js';

/** Packets handled while a command holds: they free what the command may wait for. */
const NOT_HELD = new Set(['puback', 'pubrec', 'pubcomp', 'pingreq']);
const NO_PATTERNS: ReadonlySet<string> = new Set();
/** A reserved place that turned out to need no packet. */
const NOTHING = Buffer.alloc(0);
/** How long a connection closed for the server's failure waits for its last acknowledgements. */
const FAIL_GRACE_MS = 2000;

export class MqttConnection implements Connection, Connecting, MqttClient, OutboundLink {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  readonly listener: string;
  readonly #services: MqttServices;
  readonly #admission: Admission;
  readonly #link: Link;
  readonly #outlet: Outlet;
  readonly #decoder: MqttDecoder;
  readonly #input: PacketInput;
  #ended = false;
  #accepted: Accepted | undefined;
  #outbound: Outbound | undefined;
  /** Published if the connection ends without DISCONNECT (set once connected). */
  #will: Will | undefined;
  clientId = '';
  /** Packets read: the watchdog's sign of life. */
  linesIn = 0;
  /** Keep-alive in ms (0: none), and when the last packet came. */
  keepAliveMs = 0;
  lastPacketAt = Date.now();

  constructor(link: Link, id: number, services: MqttServices, admission: Admission) {
    this.id = id;
    this.#link = link;
    this.remote = link.remote;
    this.remoteAddress = link.remoteAddress;
    this.listener = link.listener;
    this.#services = services;
    this.#admission = admission;
    this.#outlet = new Outlet(link, services, this, { lastWords: () => '', left: () => this.#input.stop() });
    // Acknowledgements pass a command that holds: they free the window it may wait on.
    this.#input = new PacketInput(link, services.limits, (packet) => this.#handle(packet), (packet) => this.#accepted !== undefined && NOT_HELD.has(packet.cmd));
    this.#decoder = new MqttDecoder(services.limits.maxLine, (packet) => this.#onPacket(packet), (refusal) => this.refuse(refusal));
    link.open({
      data: (chunk) => this.#decoder.write(chunk),
      // A client that half-closes sends nothing more, DISCONNECT neither.
      end: () => {
        if (!this.#outlet.closing) this.#outlet.finish('client closed');
      },
      close: (error) => this.#onClose(error),
    });
  }

  // --- what the handlers see (MqttClient) ---------------------------------------

  /**
   * The login once CONNACK 0 went out. Undefined before, which is what the
   * watchdog's --login-timeout looks at; the packet handlers run only after.
   */
  get user(): string {
    return this.#accepted?.user as string;
  }

  get level(): ProtocolLevel {
    return this.#accepted?.level ?? this.#decoder.level ?? 4;
  }

  get session(): MqttSession {
    return (this.#accepted as Accepted).session;
  }

  get outbound(): Outbound {
    return this.#outbound as Outbound;
  }

  send(packet: ServerPacket): void {
    this.#outlet.pushBytes(encode(packet, this.level));
  }

  later(): (packet: ServerPacket | undefined) => void {
    const fill = this.laterBytes();
    return (packet) => fill(packet === undefined ? NOTHING : encode(packet, this.level));
  }

  hold(work: () => Promise<void>): void {
    this.#input.hold(work, (error) => this.fail('internal error', error.message));
  }

  refuse(refusal: MqttRefusal): void {
    if (this.#outlet.closing) return;
    this.#services.mqtt.refused(refusal.reason);
    this.#services.logger.log('warn', `mqtt refused ${refusal.reason}`, { ...who(this), detail: refusal.detail });
    if (refusal.connack !== undefined) {
      // Before CONNACK, a refusal of the CONNECT itself: no will.
      this.#will = undefined;
      this.send({ cmd: 'connack', returnCode: refusal.connack, sessionPresent: false });
    }
    this.#leave(`mqtt ${refusal.reason}`);
  }

  fail(reason: string, detail: string): void {
    if (this.#outlet.closing) return;
    this.#services.logger.log('error', `mqtt connection closed: ${reason}`, { ...who(this), detail });
    this.#leave(reason);
    // What was committed is acknowledged first; what waits for a journal that fails may never come.
    const link = this.#link;
    setTimeout(() => link.destroy(), FAIL_GRACE_MS).unref();
  }

  // --- CONNECT (Connecting) -------------------------------------------------------

  get closing(): boolean {
    return this.#outlet.closing;
  }

  reject(code: ConnackRefusal, why: string, clientId: string): void {
    this.#services.logger.log('warn', 'mqtt connect refused', { ...who(this), client: clientId, code, why });
    this.send({ cmd: 'connack', returnCode: code, sessionPresent: false });
    this.#leave(`mqtt connack ${code}`);
  }

  accept(accepted: Accepted): void {
    this.#accepted = accepted;
    this.clientId = accepted.clientId;
    this.#will = accepted.will;
    this.keepAliveMs = accepted.keepAlive * 1000;
    const { session } = accepted;
    const outbound = new Outbound(accepted.user, session, this.#services, this);
    this.#outbound = outbound;
    this.#services.logger.log('info', 'mqtt connected', { ...who(this), kept: session.kept, present: accepted.present, listener: this.listener });
    this.send({ cmd: 'connack', returnCode: 0, sessionPresent: accepted.present });
    outbound.resend();
    this.hold(() => resume(this, this.#services));
  }

  /** The session goes to a new connection of its client identifier: this one ends, its will published. */
  takenOver(): void {
    this.#services.logger.log('info', 'mqtt session taken over by a new connection', who(this));
    this.#detach();
    this.#leave('takeover');
  }

  // --- OutboundLink ------------------------------------------------------------------

  get pageBytes(): number {
    return this.#outlet.pageBytes;
  }

  sendBytes(bytes: Buffer): void {
    this.#outlet.pushBytes(bytes);
  }

  laterBytes(): (bytes: Buffer) => void {
    const slot = this.#outlet.outbox.reserve();
    return (bytes) => this.#outlet.fill(slot, bytes, bytes.length);
  }

  room(): Promise<boolean> {
    return this.#outlet.room();
  }

  admit(bytes: number): boolean {
    return this.#outlet.admit(bytes);
  }

  // --- Connection -----------------------------------------------------------------------

  get patterns(): ReadonlySet<string> {
    return this.#outbound?.patterns ?? NO_PATTERNS;
  }

  get subscriptionCount(): number {
    return this.#accepted === undefined ? 0 : this.session.filterCount;
  }

  get busy(): boolean {
    return this.#input.busy || this.#outlet.outbox.waiting();
  }

  pendingBytes(): number {
    return this.#outlet.outbox.pendingBytes();
  }

  /** The watchdog: no CONNECT in time, or idle. */
  close(reason: string, last: Refusal): void {
    this.#services.logger.log('info', `mqtt connection closed: ${reason}`, { ...who(this), why: last.text });
    this.#leave(reason);
  }

  /** Silent for 1.5 times its keep-alive. */
  expired(): void {
    if (this.#outlet.closing) return;
    this.#services.logger.log('info', 'mqtt keep-alive expired', { ...who(this), keep_alive_s: this.keepAliveMs / 1000 });
    this.#leave('keep-alive');
  }

  shutdown(): void {
    if (this.#outlet.closing) return;
    // The server's stop is not the client's failure: no will.
    this.#will = undefined;
    this.#outlet.leave('shutdown', err('shutdown', 'the server is stopping'));
    this.#outlet.outbox.flush();
  }

  // --- input ---------------------------------------------------------------------------

  #onPacket(packet: ClientPacket): void {
    this.linesIn++;
    this.lastPacketAt = Date.now();
    this.#input.push(packet);
  }

  #handle(packet: ClientPacket): void {
    const services = this.#services;
    switch (packet.cmd) {
      case 'connect':
        return this.hold(() => connect(this, packet, services));
      case 'publish':
        return publish(this, packet, services);
      case 'pubrel':
        return pubrel(this, packet.messageId as number);
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        return this.outbound.acked(packet.cmd, packet.messageId as number);
      case 'subscribe':
        return subscribe(this, packet, services);
      case 'unsubscribe':
        return unsubscribe(this, packet, services);
      case 'pingreq':
        return this.send({ cmd: 'pingresp' });
      case 'disconnect':
        // [MQTT-3.14.4-3]: the will is dropped.
        this.#will = undefined;
        this.#input.stop();
        this.#outlet.finish('disconnect');
    }
  }

  // --- the end ---------------------------------------------------------------------------

  /** Ends for `reason` after what was written so far. */
  #leave(reason: string): void {
    this.#input.stop();
    this.#outlet.leave(reason, err('internal', reason), false);
  }

  /** Lets go of the session: no more deliveries, jobs back, the will published (once). */
  #detach(): void {
    if (this.#ended) return;
    this.#ended = true;
    const accepted = this.#accepted;
    if (accepted === undefined) return;
    this.outbound.close();
    this.#services.sessions.detach(accepted.session, this);
    const will = this.#will;
    this.#will = undefined;
    if (will !== undefined) publishWill(will, accepted.user, who(this), this.#services);
  }

  #onClose(error: string | undefined): void {
    this.#outlet.closed(error === undefined ? 'client closed' : `socket error ${error}`);
    this.#input.stop();
    this.#detach();
    this.#admission.closed(this, this.#outlet.closeReason as string);
  }
}
