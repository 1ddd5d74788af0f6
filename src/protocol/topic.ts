/**
 * Names: topics, patterns and user names (PROTOCOL.md, "Topics and
 * patterns"). A topic is 1 to 255 bytes of printable, non-space characters,
 * with `.` between segments. A pattern may use `*` as a whole segment
 * (exactly one segment) and `>` as its last segment (one or more segments).
 */

export const MAX_TOPIC_BYTES = 255;
export const MAX_USER_BYTES = 64;

/**
 * Control characters (C0, DEL, C1), invisible format characters (zero-width
 * spaces, bidirectional overrides, a BOM) and every kind of space: not
 * "printable, non-space", the rule for topics and user names alike. The
 * format characters would let `\u200b$SYS` pass for `$SYS` to a reader.
 */
export const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Z}\s]/u;

/** Why `name` is not a valid topic or pattern, or undefined if it is one. */
function nameProblem(name: string, what: 'topic' | 'pattern'): string | undefined {
  if (name.length === 0) return `empty ${what}`;
  if (Buffer.byteLength(name, 'utf8') > MAX_TOPIC_BYTES) {
    return `${what} is over ${MAX_TOPIC_BYTES} bytes`;
  }
  if (NOT_PRINTABLE.test(name)) return `${what} has a space, control or invisible character`;
  if (name.split('.').includes('')) return `${what} has an empty segment (check the dots)`;
  return undefined;
}

/**
 * Topics that passed topicProblem lately, each as one string of its own. A
 * bus sends to the same topics over and over; checking each again is most
 * of the cost of a send's parse. Bounded, so a client inventing topics
 * cannot grow it; each kept as a copy, not as a slice of the line it came
 * in (which would keep that read's whole text alive).
 */
const validTopics = new Map<string, string>();
const VALID_TOPICS_MAX = 4096;
/** The last topic validTopic() gave: sends come in runs of one topic. */
let lastValid = '';

/** Why `topic` cannot be sent to, or undefined if it can. */
export function topicProblem(topic: string): string | undefined {
  return validTopic(topic) === undefined ? checkTopic(topic) : undefined;
}

/**
 * The topic, if it can be sent to, as the one string that stands for it:
 * the bus compares and looks up the topics of a run of sends by identity,
 * not character by character, and hashes each once.
 */
export function validTopic(topic: string): string | undefined {
  if (topic === lastValid) return lastValid;
  let valid = validTopics.get(topic);
  if (valid === undefined) {
    if (checkTopic(topic) !== undefined) return undefined;
    if (validTopics.size >= VALID_TOPICS_MAX) validTopics.clear();
    valid = Buffer.from(topic).toString();
    validTopics.set(valid, valid);
  }
  lastValid = valid;
  return valid;
}

function checkTopic(topic: string): string | undefined {
  const problem = nameProblem(topic, 'topic');
  if (problem) return problem;
  for (const segment of topic.split('.')) {
    if (segment === '*' || segment === '>') {
      return `a topic cannot have a wildcard segment ('${segment}'); wildcards are for recv patterns`;
    }
  }
  return undefined;
}

/** MQTT's `/` separator with `#` or `+` as a level: `news/#`, `+/sport`. */
const MQTT_LEVEL = /(^|\/)[#+](\/|$)/;

/** Why `pattern` cannot be received, or undefined if it can. */
export function patternProblem(pattern: string): string | undefined {
  const problem = nameProblem(pattern, 'pattern');
  if (problem) return problem;
  const segments = pattern.split('.');
  const gt = segments.indexOf('>');
  if (gt !== -1 && gt !== segments.length - 1) {
    return "'>' may only be the last segment of a pattern";
  }
  // Accepted as literal text, `#` and `+` would never match what an MQTT
  // user means by them.
  if (segments.includes('#') || segments.includes('+') || MQTT_LEVEL.test(pattern)) {
    const meant = pattern
      .split(/[./]/)
      .map((segment) => (segment === '#' ? '>' : segment === '+' ? '*' : segment))
      .join('.');
    return `'#' and '+' are MQTT's wildcards; linebus uses '*' for one segment and '>' for the rest, with '.' between segments: did you mean ${meant}?`;
  }
  return undefined;
}

export function isWildcardPattern(pattern: string): boolean {
  return pattern.split('.').some((segment) => segment === '*' || segment === '>');
}

/**
 * Topics whose first segment starts with `$` belong to the server (as NATS
 * reserves `$SYS`): clients may receive them but not send to them. A
 * look-alike of `$` (fullwidth, small) counts as `$`.
 */
export function isReservedTopic(topic: string): boolean {
  const first = topic.charCodeAt(0);
  if (first < 0x80) return first === 0x24;
  return topic.normalize('NFKC').startsWith('$');
}

/** Whether `topic` matches `pattern`; both must be valid. */
export function matches(pattern: string, topic: string): boolean {
  if (pattern === topic) return true;
  const want = pattern.split('.');
  const have = topic.split('.');
  for (let i = 0; i < want.length; i++) {
    const segment = want[i];
    if (segment === '>') return have.length > i;
    if (i >= have.length) return false;
    if (segment !== '*' && segment !== have[i]) return false;
  }
  return want.length === have.length;
}

/** Why `name` cannot be a user name, or undefined if it can. */
export function userNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a user name cannot be empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_USER_BYTES) return `a user name is at most ${MAX_USER_BYTES} bytes`;
  if (NOT_PRINTABLE.test(name)) return 'a user name cannot contain spaces, control or invisible characters';
  // The server's own messages (dead letters) come from $linebus: no client
  // may pass for it, with a look-alike of `$` either, or a mark before it.
  if (/^\p{M}/u.test(name)) return 'a user name cannot begin with a combining mark';
  if (isReservedTopic(name)) return "a user name cannot begin with '$': such names are the server's own";
  return undefined;
}
