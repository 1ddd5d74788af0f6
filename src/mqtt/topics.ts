/**
 * MQTT topic names and filters <-> linebus topics and patterns (MQTT.md,
 * "Topics"). One journal, one name per topic: `/` between MQTT levels is
 * `.` between linebus segments, and inside a level the characters a
 * linebus segment cannot hold as themselves are written `%XX`, upper-case
 * hex of each UTF-8 byte: `%` and `.` (the mapping's own), space and the
 * ASCII controls (the bytes below 0x21 and 0x7F, as MQTT.md lists them),
 * and, by the same rule, the non-ASCII characters linebus topics refuse
 * (C1 controls, Unicode spaces, invisible format characters such as
 * U+200B: `NOT_PRINTABLE`). A whole level that is exactly `*` or `>` is
 * `%2A` or `%3E`; an empty level is `%` alone.
 *
 * Pure: the door maps every PUBLISH's topic and every delivery's topic here.
 */
import { isUtf8 } from 'node:buffer';
import { CURSOR_NAME } from '../protocol/args.js';
import { MAX_TOPIC_BYTES, NOT_PRINTABLE, matches } from '../protocol/topic.js';
import { accepted, refused } from './refusals.js';
import type { Checked } from './refusals.js';

const HEX = '0123456789ABCDEF';
/** A level of only these needs no escape (printable ASCII but `%` and `.`). */
const PLAIN_LEVEL = /^[\x21-\x24\x26-\x2d\x2f-\x7e]+$/;
/** What a decoded level cannot hold: MQTT's separator, wildcards and NUL. */
const NOT_IN_A_LEVEL = /[/+#\0]/;
const ESCAPE = /%([0-9A-F]{2})/g;

/** `char` as `%XX` for each of its UTF-8 bytes. */
function escapeChar(char: string): string {
  let out = '';
  for (const byte of Buffer.from(char, 'utf8')) out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  return out;
}

function needsEscape(char: string): boolean {
  const code = char.charCodeAt(0);
  if (code <= 0x20 || code === 0x7f) return true;
  if (code < 0x80) return char === '%' || char === '.';
  return NOT_PRINTABLE.test(char);
}

/** One MQTT level (without `/`, `+`, `#`) as a linebus segment. */
function encodeLevel(level: string): string {
  if (level === '') return '%';
  if (level === '*') return '%2A';
  if (level === '>') return '%3E';
  if (PLAIN_LEVEL.test(level)) return level;
  let out = '';
  for (const char of level) out += needsEscape(char) ? escapeChar(char) : char;
  return out;
}

/** A linebus segment as the MQTT level it is the image of, or undefined if it is the image of none. */
function decodeLevel(segment: string): string | undefined {
  if (segment === '%') return '';
  let level = segment;
  if (segment.includes('%')) {
    // Escapes stand for bytes, which must make UTF-8 with the characters
    // around them (`%C3%A9` is `é`): decode on a byte-per-character view.
    const latin1 = Buffer.from(segment, 'utf8').toString('latin1');
    const bytes = Buffer.from(latin1.replace(ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    if (!isUtf8(bytes)) return undefined;
    level = bytes.toString('utf8');
  }
  if (NOT_IN_A_LEVEL.test(level)) return undefined;
  // Only the one spelling encodeLevel writes is a name (`%2e`, `%41` and a
  // stray `%` are linebus topics no MQTT name maps to).
  return encodeLevel(level) === segment ? level : undefined;
}

/** The linebus topic of an MQTT topic name (PUBLISH, a will), or why it has none. */
export function linebusTopic(name: string): Checked<string> {
  if (name === '') return refused('topic-empty');
  if (name.includes('\0')) return refused('nul');
  if (name.includes('+') || name.includes('#')) return refused('topic-wildcard');
  // Mapping never shrinks a name: a longer one cannot fit.
  if (name.length > MAX_TOPIC_BYTES) return refused('topic-too-long');
  const topic = name.split('/').map(encodeLevel).join('.');
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) return refused('topic-too-long');
  return accepted(topic);
}

/** Topics that are certainly the image of `topic.replaceAll('.', '/')`. */
const PLAIN_TOPIC = /^[^%/+#]+$/;

/**
 * The MQTT topic name of a (valid) linebus topic, or undefined when no MQTT
 * name maps to it: a line client may send to `#ops`, `a/b` or `100%`, which
 * MQTT clients cannot name; their messages are not delivered to MQTT
 * subscribers.
 */
export function mqttTopicName(topic: string): string | undefined {
  if (PLAIN_TOPIC.test(topic)) return topic.replaceAll('.', '/');
  const levels: string[] = [];
  for (const segment of topic.split('.')) {
    const level = decodeLevel(segment);
    if (level === undefined) return undefined;
    levels.push(level);
  }
  const name = levels.join('/');
  return name === '' ? undefined : name;
}

/**
 * An MQTT topic filter on linebus patterns. `+` is `*`, `#` is `>`. A
 * filter ending in `#` also matches its parent level (`a/#` matches `a`,
 * MQTT 3.1.1 section 4.7.1.2), which no single linebus pattern says: it is
 * two patterns, `a.>` and `a`, both subscribed on the bus for the one
 * receiver, so the broker's one-copy rule gives a message once. `#` alone
 * is `>` (every topic has a segment). A filter whose first level is a
 * wildcard does not match topics starting with `$` [MQTT-4.7.2-1]: the
 * patterns do, so `filterMatches` checks that per message.
 */
export interface MqttFilter {
  /** The filter as the client wrote it (the key of its subscription). */
  readonly filter: string;
  /** The filter's pattern: `a.>` for `a/#`, `a.*` for `a/+`. */
  readonly pattern: string;
  /** For a filter `<parent>/#`: the parent's pattern (`a` for `a/#`, `*` for `+/#`). */
  readonly parent: string | undefined;
  /** The first level is `+` or `#`: topics starting with `$` do not match. */
  readonly skipsDollar: boolean;
}

/** The linebus patterns to subscribe on the bus for `filter`: one or two. */
export function filterPatterns(filter: MqttFilter): string[] {
  return filter.parent === undefined ? [filter.pattern] : [filter.pattern, filter.parent];
}

/** An MQTT topic filter (SUBSCRIBE, UNSUBSCRIBE) on linebus patterns, or why it is not one. */
export function parseFilter(filter: string): Checked<MqttFilter> {
  if (filter === '') return refused('topic-empty');
  if (filter.includes('\0')) return refused('nul');
  // Mapping never shrinks a filter (`+` is `*`, `#` is `>`).
  if (filter.length > MAX_TOPIC_BYTES) return refused('topic-too-long');
  const levels = filter.split('/');
  const segments: string[] = [];
  for (const [i, level] of levels.entries()) {
    if (level === '#') {
      if (i !== levels.length - 1) return refused('filter-wildcard');
      segments.push('>');
    } else if (level === '+') {
      segments.push('*');
    } else if (level.includes('+') || level.includes('#')) {
      return refused('filter-wildcard');
    } else {
      segments.push(encodeLevel(level));
    }
  }
  const pattern = segments.join('.');
  if (Buffer.byteLength(pattern, 'utf8') > MAX_TOPIC_BYTES) return refused('topic-too-long');
  const multi = segments.length > 1 && segments[segments.length - 1] === '>';
  return accepted({
    filter,
    pattern,
    parent: multi ? segments.slice(0, -1).join('.') : undefined,
    skipsDollar: levels[0] === '+' || levels[0] === '#',
  });
}

/** Whether a message on linebus `topic` matches `filter`, as MQTT says. */
export function filterMatches(filter: MqttFilter, topic: string): boolean {
  if (filter.skipsDollar && topic.charCodeAt(0) === 0x24) return false;
  return matches(filter.pattern, topic) || (filter.parent !== undefined && matches(filter.parent, topic));
}

/** A SUBSCRIBE's filter: a plain one, or `$share/<group>/<filter>` for a queue group. */
export interface SubscriptionFilter {
  /** The queue group of a shared subscription (PROTOCOL.md, "Work queues"). */
  readonly group: string | undefined;
  readonly filter: MqttFilter;
}

const SHARE = '$share/';

/**
 * Reads a SUBSCRIBE or UNSUBSCRIBE filter. `$share/<group>/<filter>` names
 * a linebus queue group, so the group follows the group-name rule (1 to 64
 * letters, digits, `-`, `_`, `.`), which also keeps out MQTT 5's
 * forbidden `/`, `+` and `#`.
 */
export function parseSubscriptionFilter(text: string): Checked<SubscriptionFilter> {
  if (!text.startsWith(SHARE)) {
    const filter = parseFilter(text);
    return filter.ok ? accepted({ group: undefined, filter: filter.value }) : filter;
  }
  const slash = text.indexOf('/', SHARE.length);
  if (slash === -1) return refused('share-invalid');
  const group = text.slice(SHARE.length, slash);
  const rest = text.slice(slash + 1);
  if (!CURSOR_NAME.test(group) || rest === '') return refused('share-invalid');
  const filter = parseFilter(rest);
  return filter.ok ? accepted({ group, filter: filter.value }) : filter;
}
