/**
 * The MQTT door (MQTT.md), as the daemon sees it: every Link of its
 * listeners (`mqtt`, `mqtt-tls`, `/mqtt`'s `mqtt-ws`) becomes a connection
 * admitted like any other (--max-connections); the kept sessions are
 * loaded at start and count as durable cursors; one sweep a second
 * closes the connections silent past 1.5 times their keep-alive.
 */
import type { Bus } from '../assemble.js';
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import type { Admission, Connection } from '../session/connection.js';
import type { Store } from '../store/store.js';
import type { Refusal } from '../protocol/events.js';
import type { LineDoor, Link, Seat, Seats } from '../transport/link.js';
import { MqttConnection } from './connection.js';
import type { MqttLimits, MqttServices } from './context.js';
import { MqttCounters } from './counters.js';
import { Sessions } from './sessions.js';

export interface DoorParts {
  readonly bus: Bus;
  readonly store: Store;
  readonly turn: Turn;
  readonly counters: Stats;
  readonly logger: Logger;
  readonly limits: MqttLimits;
  readonly connections: Admission & Seats;
}

/** How often keep-alives are checked. */
const SWEEP_MS = 1000;
/** A client may be silent for this many times its keep-alive [MQTT-3.1.2-24]. */
const KEEP_ALIVE_GRACE = 1.5;

export class MqttDoor implements LineDoor {
  readonly counters = new MqttCounters();
  readonly sessions: Sessions;
  readonly #services: MqttServices;
  readonly #connections = new Set<MqttConnection>();
  readonly #admission: Admission;
  readonly #seats: Seats;
  #timer: NodeJS.Timeout | undefined;

  constructor(parts: DoorParts) {
    const { bus, store } = parts;
    this.sessions = new Sessions({ store: store.mqtt, reader: store.reader, broker: bus.broker, logger: parts.logger });
    this.#services = { ...bus, reader: store.reader, store: store.mqtt, sessions: this.sessions, turn: parts.turn, counters: parts.counters, mqtt: this.counters, logger: parts.logger, limits: parts.limits };
    // Its connections leave this set, then the registry, when they close.
    this.#admission = {
      admit: (make) => parts.connections.admit(make),
      closed: (connection: Connection, reason: string) => {
        this.#connections.delete(connection as MqttConnection);
        parts.connections.closed(connection, reason);
      },
    };
    this.#seats = parts.connections;
    bus.cursors.elsewhere = this.sessions;
  }

  /** Loads the kept sessions and starts the keep-alive sweep. */
  start(): void {
    this.sessions.load(this.#services.limits.mqttInflight);
    this.#timer = setInterval(() => this.sweep(Date.now()), SWEEP_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** A place for a socket of an MQTT listener (--max-connections holds for every door). */
  take(remote: string): Seat | Refusal {
    return this.#seats.take(remote);
  }

  /** A client of any MQTT listener, on a socket that holds its place. */
  accept(link: Link): void {
    this.#connections.add(this.#admission.admit((id) => new MqttConnection(link, id, this.#services, this.#admission)));
  }

  /** A client over the limit: closed at once, as Mosquitto does (it has sent no CONNECT to answer); the registry logged and counted it. */
  refuse(link: Link): void {
    link.destroy();
  }

  /** Closes the connections whose keep-alive ran out by `now`. */
  sweep(now: number): void {
    for (const connection of this.#connections) {
      if (connection.keepAliveMs > 0 && now - connection.lastPacketAt > connection.keepAliveMs * KEEP_ALIVE_GRACE) connection.expired();
    }
  }

  /** The door's figures, as `stats` names them. */
  stats(): [string, number][] {
    return this.counters.pairs(this.sessions.keptCount);
  }
}
