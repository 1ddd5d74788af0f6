/**
 * Quality of service (MQTT.md, "Messages"): which QoS a message goes out
 * at, and the receiving side of QoS 2. Pure; the outgoing window is
 * inflight.ts.
 */

export type Qos = 0 | 1 | 2;

/** What line-protocol, HTTP and WebSocket messages count as: acknowledged after the commit, once. */
export const LINE_QOS: Qos = 1;

/**
 * The QoS a subscriber gets a message at: the lesser of the publish QoS and
 * the QoS granted to the subscription [MQTT-3.8.4-6]. `granted` is the
 * highest QoS among the client's subscriptions that match (overlapping
 * subscriptions give one copy, at the highest), undefined if none does.
 */
export function deliveryQos(published: Qos, granted: Qos | undefined): Qos | undefined {
  if (granted === undefined) return undefined;
  return published < granted ? published : granted;
}

/** SUBACK's return code for a filter the user may not read [MQTT-3.9.3]. */
export const SUBACK_FAILURE = 0x80;

/**
 * The packet identifiers of QoS 2 PUBLISHes received and not yet released
 * (MQTT 3.1.1 section 4.3.3, method B): a PUBLISH whose identifier is
 * here is the client sending it again, so it is answered PUBREC without
 * being journaled again; PUBREL releases the identifier and is answered
 * PUBCOMP, also when the identifier is unknown (the client is resending a
 * PUBREL whose PUBCOMP it missed).
 *
 * What must be persisted for a session kept across a restart (clean
 * session 0): the identifiers here. An identifier is added in the same
 * transaction that journals its message (the PUBREC follows the commit),
 * and a release is committed before its PUBCOMP is written: a PUBCOMP
 * whose release was lost in a crash would let the client reuse the
 * identifier for a new message, which would then be taken for a repeat
 * and dropped.
 */
export class ReceivedQos2 {
  readonly #ids: Set<number>;
  readonly #limit: number;

  /** `limit`: how many may await PUBREL at once; `restored`: the persisted identifiers. */
  constructor(limit: number, restored: Iterable<number> = []) {
    this.#limit = limit;
    this.#ids = new Set(restored);
  }

  /**
   * A QoS 2 PUBLISH with `packetId`: `new` (journal it; the identifier is
   * held from now, so a repeat that arrives before the commit is not
   * journaled twice; if the commit fails, `release` it), `repeat` (answer
   * PUBREC only) or `full` (`limit` identifiers await their PUBREL: the
   * client is not completing its flows).
   */
  publish(packetId: number): 'new' | 'repeat' | 'full' {
    if (this.#ids.has(packetId)) return 'repeat';
    if (this.#ids.size >= this.#limit) return 'full';
    this.#ids.add(packetId);
    return 'new';
  }

  /** A PUBREL: `released`, or `unknown`; both are answered PUBCOMP. */
  release(packetId: number): 'released' | 'unknown' {
    return this.#ids.delete(packetId) ? 'released' : 'unknown';
  }

  /** What to persist, in ascending order. */
  ids(): number[] {
    return [...this.#ids].sort((a, b) => a - b);
  }

  get size(): number {
    return this.#ids.size;
  }
}
