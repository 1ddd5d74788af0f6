/**
 * The cluster's own NATS framing (cluster/nats-frames.ts), as tables: what
 * the server sends, whole and split at every byte, read into the same
 * frames or refused; what the daemon writes, byte for byte as nats.js
 * writes the same.
 */
import t from 'tap';
import { headers } from 'nats';
import { connect, FrameError, FrameParser, FrameWriter, headerValue, MAX_CONTROL_LINE, pub, statusOf } from '../src/cluster/nats-frames.js';
import { SEND_HEADER, SENDER_HEADER } from '../src/cluster/subjects.js';

/** Every frame the parser hands over, as text: what a test compares. */
function read(chunks: readonly Buffer[]): string[] {
  const frames: string[] = [];
  const parser = new FrameParser({
    info: (info) => frames.push(`info ${JSON.stringify(info)}`),
    msg: (frame) =>
      frames.push(`msg ${frame.subject} ${frame.sid} [${frame.reply}] ${frame.headers === undefined ? '-' : JSON.stringify(frame.headers)} ${JSON.stringify(frame.payload)}`),
    ping: () => frames.push('ping'),
    pong: () => frames.push('pong'),
    err: (message) => frames.push(`err ${message}`),
  });
  for (const chunk of chunks) parser.push(chunk);
  return frames;
}

/** The input cut in two at every byte, and in one-byte pieces: each must read as the whole does. */
function splits(input: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[input], Array.from(input, (byte) => Buffer.from([byte]))];
  for (let at = 1; at < input.length; at++) ways.push([input.subarray(0, at), input.subarray(at)]);
  return ways;
}

const hmsg = (subject: string, sid: number, reply: string, head: string, body: string): string =>
  `HMSG ${subject} ${sid} ${reply} ${Buffer.byteLength(head)} ${Buffer.byteLength(head) + Buffer.byteLength(body)}\r\n${head}${body}\r\n`;
const ackReply = '$JS.ACK.linebus.c1.1.42.7.1764770000123456789.0';
const sendHead = `NATS/1.0\r\n${SENDER_HEADER}: alice\r\n${SEND_HEADER}: p-3\r\n\r\n`;

t.test('frames read alike whole, split at every byte and byte by byte', async (t) => {
  const table: [string, string, string[]][] = [
    ['INFO', 'INFO {"server_id":"S","max_payload":1048576,"headers":true}\r\n', ['info {"server_id":"S","max_payload":1048576,"headers":true}']],
    ['PING, PONG, +OK', 'PING\r\nPONG\r\n+OK\r\n', ['ping', 'pong']],
    ['-ERR, quotes taken off', "-ERR 'Permissions Violation for Publish to \"x\"'\r\n", ['err Permissions Violation for Publish to "x"']],
    ['a PubAck', 'MSG _INBOX.abc.17 1 28\r\n{"stream":"linebus","seq":5}\r\n', ['msg _INBOX.abc.17 1 [] - "{\\"stream\\":\\"linebus\\",\\"seq\\":5}"']],
    ['MSG with a reply subject', 'MSG a.b 2 r.1 3\r\nhey\r\n', ['msg a.b 2 [r.1] - "hey"']],
    ['an empty payload', 'MSG a 2 0\r\n\r\n', ['msg a 2 [] - ""']],
    ['a payload with CRLF in it', 'MSG a 2 4\r\n\r\n\r\n\r\n', ['msg a 2 [] - "\\r\\n\\r\\n"']],
    ['a delivery with headers', hmsg('linebus.chat.x', 3, ackReply, sendHead, 'héllo'), [`msg linebus.chat.x 3 [${ackReply}] ${JSON.stringify(sendHead)} "héllo"`]],
    ['no responders: headers only', 'HMSG _INBOX.abc.9 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n', ['msg _INBOX.abc.9 1 [] "NATS/1.0 503\\r\\n\\r\\n" ""']],
    ['fields apart by more than one space, or tabs', 'MSG  a.b\t2   r.1 3\r\nhey\r\n', ['msg a.b 2 [r.1] - "hey"']],
    ['a PubAck as nats-server writes it: two spaces where no reply subject is', 'MSG _INBOX.abc.18 1  28\r\n{"stream":"linebus","seq":6}\r\n', ['msg _INBOX.abc.18 1 [] - "{\\"stream\\":\\"linebus\\",\\"seq\\":6}"']],
    ['a space at the end of the line', 'MSG a.b 2 3 \r\nhey\r\n', ['msg a.b 2 [] - "hey"']],
    ['an HMSG with a reply subject', 'HMSG a 7 r.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n', ['msg a 7 [r.2] "NATS/1.0\\r\\n\\r\\n" "hi"']],
    ['lower-case verbs, frames back to back', 'ping\r\nmsg a 1 1\r\nx\r\nPONG\r\n', ['ping', 'msg a 1 [] - "x"', 'pong']],
  ];
  for (const [name, input, frames] of table) {
    for (const chunks of splits(Buffer.from(input))) t.same(read(chunks), frames, `${name}, in ${chunks.length} pieces`);
  }
});

t.test('what is not NATS is refused, whole or split', async (t) => {
  const table: [string, string, RegExp][] = [
    ['an unknown verb', 'HELLO there\r\n', /^an unknown frame 'HELLO there'$/],
    ['a CR without LF', 'PING\rX', /^a control line not ended by CRLF$/],
    ['a MSG without a size', 'MSG a 1\r\n', /^a malformed MSG/],
    ['a MSG with a size that is not a number', 'MSG a 1 x\r\n', /^a malformed MSG/],
    ['a MSG with a negative size', 'MSG a 1 -1\r\n', /^a malformed MSG/],
    ['a MSG with too many fields', 'MSG a 1 r 2 3\r\n', /^a malformed MSG/],
    ['an HMSG with far too many fields', 'HMSG a 1 r 2 3 4 5\r\n', /^a malformed HMSG/],
    ['an HMSG with a sid that is not a number', 'HMSG a x 2 3\r\n', /^a malformed HMSG/],
    ['an HMSG whose headers are longer than all', 'HMSG a 1 9 3\r\n', /^a malformed HMSG/],
    ['a message not ended where its size says', 'MSG a 1 2\r\nabc\r\n', /^a message not ended by CRLF/],
    ['an INFO that is not an object', 'INFO [1]\r\n', /^an INFO that is not a JSON object/],
    ['an INFO that is not JSON', 'INFO {server_id\r\n', /^an INFO that is not a JSON object/],
    ['a message too big to be one', `MSG a 1 ${64 * 1024 * 1024 + 1}\r\n`, /^a malformed MSG/],
  ];
  for (const [name, input, error] of table) {
    for (const chunks of splits(Buffer.from(input))) t.throws(() => read(chunks), new FrameError(), `${name}, in ${chunks.length} pieces`);
    t.throws(() => read([Buffer.from(input)]), { message: error }, name);
  }
  t.throws(() => read([Buffer.from(`MSG ${'a'.repeat(MAX_CONTROL_LINE)}`)]), { message: `a control line longer than ${MAX_CONTROL_LINE} bytes` }, 'no end of line in sight');
  t.same(read([Buffer.from(`MSG ${'a'.repeat(MAX_CONTROL_LINE - 10)}`)]), [], 'a long line still coming is waited for');
});

t.test('header blocks: status and values', async (t) => {
  t.same(statusOf('NATS/1.0 503\r\n\r\n'), { code: 503, description: '' });
  t.same(statusOf('NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 4\r\n\r\n'), { code: 100, description: 'Idle Heartbeat' });
  t.same(statusOf(sendHead), { code: 0, description: '' });
  t.equal(headerValue(sendHead, SENDER_HEADER), 'alice');
  t.equal(headerValue(sendHead, SEND_HEADER), 'p-3');
  t.equal(headerValue(sendHead, 'Linebus'), undefined, 'a name, not a prefix of one');
  t.equal(headerValue(`NATS/1.0\r\nX: ${SEND_HEADER}: no\r\nY-${SEND_HEADER}: no\r\n${SEND_HEADER}: p-4\r\n\r\n`, SEND_HEADER), 'p-4', 'a name where a line begins');
  t.equal(headerValue(`${SEND_HEADER}: p-5\r\n\r\n`, SEND_HEADER), undefined, 'not the status line');
  t.same(statusOf('NATS/1.0\r\n\r\n'), { code: 0, description: '' });
  t.same(statusOf('NATS/1.0 404 No Messages\r\n\r\n'), { code: 404, description: 'No Messages' });
  t.same(statusOf('NATS/2.0 503\r\n\r\n'), { code: 0, description: '' }, 'not a status line');
  t.equal(headerValue('NATS/1.0\r\nA:  spaced  \r\n\r\n', 'A'), 'spaced');
});

t.test("a send's HPUB carries the header block nats.js makes of the same headers, and the byte counts of what follows", async (t) => {
  for (const [sender, name, body] of [
    ['alice', 'p-1', 'hello'],
    ['ünï', '1a2b3c4d5e-123456', 'ça va'],
    ['bob', 'p-10', ''],
  ] as const) {
    const theirs = headers();
    theirs.set(SENDER_HEADER, sender);
    theirs.set(SEND_HEADER, name);
    // What nats.js writes of its headers (encode is its, not in its typings).
    const block = Buffer.from((theirs as unknown as { encode(): Uint8Array }).encode()).toString();
    const writer = new FrameWriter();
    writer.hpub('linebus.chät', '_INBOX.x.1', [SENDER_HEADER, sender, SEND_HEADER, name], body);
    const size = Buffer.byteLength(block);
    t.equal(writer.take().toString(), `HPUB linebus.chät _INBOX.x.1 ${size} ${size + Buffer.byteLength(body)}\r\n${block}${body}\r\n`, sender);
    t.equal(writer.take().length, 0, 'taken once');
  }
  t.equal(pub('a.b', '', ''), 'PUB a.b 0\r\n\r\n');
  t.equal(pub('a.b', 'r', 'ü'), 'PUB a.b r 2\r\nü\r\n');
});

t.test('the writer hands out each turn once, and never writes over what it handed out', async (t) => {
  const writer = new FrameWriter();
  writer.text(pub('a', '', 'one'));
  writer.hpub('b', 'r.9', [SEND_HEADER, 'p-9'], 'two', 3);
  const first = writer.take();
  const firstText = first.toString();
  t.equal(firstText, `PUB a 3\r\none\r\nHPUB b r.9 31 34\r\nNATS/1.0\r\n${SEND_HEADER}: p-9\r\n\r\ntwo\r\n`);
  // Enough after it to need a new slab (what was not taken moves along).
  const body = 'x'.repeat(300 * 1024);
  writer.text(pub('c', '', 'three'));
  writer.hpub('d', 'r', [], body);
  t.equal(first.toString(), firstText, 'what was handed out is as it was');
  t.equal(writer.take().toString(), `PUB c 5\r\nthree\r\nHPUB d r 12 ${12 + body.length}\r\nNATS/1.0\r\n\r\n${body}\r\n`);
  writer.text('PING\r\n');
  writer.clear();
  t.equal(writer.take().length, 0, 'cleared: nothing to take');
});

t.test('CONNECT says headers and no responders, with the credentials of the URL', async (t) => {
  const parsed = (line: string): unknown => JSON.parse(line.replace(/^CONNECT /, ''));
  t.match(parsed(connect({ name: 'n', version: '1', tls: false })), { verbose: false, headers: true, no_responders: true, tls_required: false, name: 'n' });
  t.notMatch(parsed(connect({ name: 'n', version: '1', tls: false })), { user: String });
  t.match(parsed(connect({ name: 'n', version: '1', tls: true, user: 'u', pass: 'p' })), { user: 'u', pass: 'p', tls_required: true });
  t.match(parsed(connect({ name: 'n', version: '1', tls: false, token: 's3cret' })), { auth_token: 's3cret' });
  t.ok(connect({ name: 'n', version: '1', tls: false }).endsWith('}\r\n'));
});
