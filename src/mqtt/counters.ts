/**
 * The MQTT door's figures for `stats` and `/metrics` (MQTT.md): refusals
 * by reason, denied publishes, messages no MQTT name maps to, wills
 * published, kept sessions. Connections by listener are the registry's.
 */
import type { MqttRefusalReason } from './refusals.js';

export class MqttCounters {
  readonly #refused = new Map<MqttRefusalReason, number>();
  /** PUBLISHes (and wills) acknowledged and dropped: the access file, or a `$` topic. */
  publishesDenied = 0;
  /** Messages not delivered to an MQTT subscriber: their topic has no MQTT name. */
  unmapped = 0;
  /** Wills published. */
  wills = 0;

  refused(reason: MqttRefusalReason): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  /** As `stats` names them; `mqtt_refused.<reason>` for each reason seen. */
  pairs(sessions: number): [string, number][] {
    return [
      ['mqtt_sessions', sessions],
      ['mqtt_publishes_denied', this.publishesDenied],
      ['mqtt_unmapped', this.unmapped],
      ['mqtt_wills', this.wills],
      ...[...this.#refused].sort().map(([reason, count]): [string, number] => [`mqtt_refused.${reason}`, count]),
    ];
  }
}
