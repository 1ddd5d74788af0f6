import t from 'tap';
import { parse } from '../src/protocol/parser.js';
import { ForeignProtocolError, ProtocolError } from '../src/protocol/errors.js';
import { replyLine } from '../src/protocol/wire.js';

function code(line: string): string | undefined {
  const result = parse(line);
  return result instanceof ProtocolError ? result.code : undefined;
}

t.test('blank lines are ignored', async (t) => {
  for (const line of ['', ' ', '\t', ' \t  ']) t.equal(parse(line), undefined, JSON.stringify(line));
});

t.test('commands', async (t) => {
  const table: [string, unknown][] = [
    ['login alice secret', { verb: 'login', user: 'alice', password: 'secret' }],
    ['LOGIN alice secret', { verb: 'login', user: 'alice', password: 'secret' }],
    ['login\talice\tpass word ', { verb: 'login', user: 'alice', password: 'pass word ' }],
    ['  login alice x', { verb: 'login', user: 'alice', password: 'x' }],
    ['recv news.>', { verb: 'recv', pattern: 'news.>', start: undefined }],
    ['Recv  a.*.c  ', { verb: 'recv', pattern: 'a.*.c', start: undefined }],
    ['recv a since 41', { verb: 'recv', pattern: 'a', start: { kind: 'id', id: 41 } }],
    ['recv a SINCE 0', { verb: 'recv', pattern: 'a', start: { kind: 'id', id: 0 } }],
    ['recv a since 90s', { verb: 'recv', pattern: 'a', start: { kind: 'ago', ms: 90_000 } }],
    ['recv a since 15m', { verb: 'recv', pattern: 'a', start: { kind: 'ago', ms: 900_000 } }],
    ['recv a since 2h', { verb: 'recv', pattern: 'a', start: { kind: 'ago', ms: 7_200_000 } }],
    ['recv a since 7d', { verb: 'recv', pattern: 'a', start: { kind: 'ago', ms: 604_800_000 } }],
    ['recv a since 2026-11-22T10:00:00Z', { verb: 'recv', pattern: 'a', start: { kind: 'time', ms: Date.UTC(2026, 10, 22, 10) } }],
    ['recv a since 2026-11-22', { verb: 'recv', pattern: 'a', start: { kind: 'time', ms: Date.UTC(2026, 10, 22) } }],
    ['recv a last 10', { verb: 'recv', pattern: 'a', start: { kind: 'last', count: 10 } }],
    ['replay > since 5', { verb: 'replay', pattern: '>', start: { kind: 'id', id: 5 } }],
    ['replay x.* last 0', { verb: 'replay', pattern: 'x.*', start: { kind: 'last', count: 0 } }],
    ['leave a.b', { verb: 'leave', pattern: 'a.b' }],
    ['send syslib connect room1 room2', { verb: 'send', topic: 'syslib', body: 'connect room1 room2' }],
    ['send t  two leading, trailing  ', { verb: 'send', topic: 't', body: ' two leading, trailing  ' }],
    ['send\tt\tx', { verb: 'send', topic: 't', body: 'x' }],
    ['send t  ', { verb: 'send', topic: 't', body: ' ' }],
    ['send #ops é ünïcode ✓', { verb: 'send', topic: '#ops', body: 'é ünïcode ✓' }],
    ['send a*b.c> literal', { verb: 'send', topic: 'a*b.c>', body: 'literal' }],
    ['ping', { verb: 'ping', text: undefined }],
    ['PING hello there', { verb: 'ping', text: 'hello there' }],
    ['tags ts', { verb: 'tags', tag: 'ts' }],
    ['TAGS None', { verb: 'tags', tag: 'none' }],
    ['help', { verb: 'help', about: undefined }],
    ['help SEND', { verb: 'help', about: 'send' }],
    ['logoff', { verb: 'logoff' }],
    ['QUIT', { verb: 'logoff' }],
    ['topics', { verb: 'topics', all: false }],
    ['topics ALL', { verb: 'topics', all: true }],
    ['who news.eu', { verb: 'who', topic: 'news.eu', all: false }],
    ['who', { verb: 'who', topic: undefined, all: false }],
    ['who all', { verb: 'who', topic: undefined, all: true }],
    ['who All', { verb: 'who', topic: undefined, all: true }],
    ['who news.eu all', { verb: 'who', topic: 'news.eu', all: true }],
    ['who all all', { verb: 'who', topic: 'all', all: true }],
    ['stats', { verb: 'stats' }],
    ['recv news.> as bot-1', { verb: 'recv', pattern: 'news.>', cursor: 'bot-1', start: undefined }],
    ['recv a AS c.2_x since 7', { verb: 'recv', pattern: 'a', cursor: 'c.2_x', start: { kind: 'id', id: 7 } }],
    ['recv a as c last 3', { verb: 'recv', pattern: 'a', cursor: 'c', start: { kind: 'last', count: 3 } }],
    [`recv a as ${'n'.repeat(64)}`, { verb: 'recv', pattern: 'a', cursor: 'n'.repeat(64), start: undefined }],
    ['mark c 41', { verb: 'mark', cursor: 'c', id: 41 }],
    ['cursors', { verb: 'cursors' }],
    ['forget c', { verb: 'forget', cursor: 'c' }],
    ['take jobs.> as g', { verb: 'take', pattern: 'jobs.>', group: 'g' }],
    ['take jobs as g max 3 wait 500ms tries 0 since 10', { verb: 'take', pattern: 'jobs', group: 'g', max: 3, waitMs: 500, tries: 0, start: { kind: 'id', id: 10 } }],
    ['take jobs as g TRIES 2 last 5 WAIT 2m', { verb: 'take', pattern: 'jobs', group: 'g', tries: 2, start: { kind: 'last', count: 5 }, waitMs: 120_000 }],
    ['ack 5', { verb: 'ack', id: 5 }],
    ['nack 5', { verb: 'nack', id: 5, delayMs: 0 }],
    ['nack 5 1h', { verb: 'nack', id: 5, delayMs: 3_600_000 }],
    ['touch 5', { verb: 'touch', id: 5 }],
    ['pending g', { verb: 'pending', group: 'g' }],
    ['request ask.time what time is it?', { verb: 'request', topic: 'ask.time', withinMs: undefined, body: 'what time is it?' }],
    ['request ask within 2s  two spaces ', { verb: 'request', topic: 'ask', withinMs: 2000, body: ' two spaces ' }],
    ['reply 12 noon, or so', { verb: 'reply', id: 12, answer: 'noon, or so' }],
  ];
  for (const [line, expected] of table) t.same(parse(line), expected, line);
});

t.test('errors', async (t) => {
  const table: [string, string, RegExp?][] = [
    ['frobnicate', 'syntax', /^unknown command 'frobnicate'; try help$/],
    ['x'.repeat(100), 'syntax', /^unknown command 'x{32}\.\.\.'/],
    ['login', 'syntax', /^usage: login <user> <password>$/],
    ['login alice', 'syntax'],
    ['login alice ', 'syntax'],
    [`login ${'u'.repeat(65)} pw`, 'syntax', /over 64 bytes/],
    ['recv', 'syntax', /^usage: recv/],
    ['recv a.>.b', 'syntax', /'>' may only be the last segment/],
    ['tags', 'syntax', /^the tags are 'ts' \(the commit time\) or 'none'; usage: tags ts \| tags none$/],
    ['tags time', 'syntax', /^the tags are/],
    ['tags ts none', 'syntax', /too many arguments/],
    ['recv a..b', 'syntax', /empty segment/],
    ['recv .a', 'syntax', /empty segment/],
    ['recv a since', 'syntax', /since needs/],
    ['recv a since yesterday', 'syntax', /not an id, a duration/],
    ['recv a since 2026-13-45', 'syntax', /not an id/],
    ['recv a since -1', 'syntax'],
    ['recv a last', 'syntax', /last needs a whole number/],
    ['recv a last -3', 'syntax'],
    ['recv a last 1.5', 'syntax'],
    ['recv a from 3', 'syntax', /expected 'since' or 'last'/],
    ['recv a since 3 extra', 'syntax', /too many arguments/],
    ['replay a', 'syntax', /expected 'since' or 'last'/],
    ['replay', 'syntax', /^usage: replay/],
    ['leave', 'syntax'],
    ['leave a b', 'syntax', /too many arguments/],
    ['send', 'syntax', /^usage: send <topic> <message>$/],
    ['send t', 'syntax', /^usage: send <topic> <message>$/],
    ['send t ', 'syntax'],
    ['send a.* x', 'syntax', /wildcard segment/],
    ['send > x', 'syntax', /wildcard segment/],
    ['send a.>.b x', 'syntax', /wildcard segment/],
    [`send ${'t'.repeat(256)} x`, 'syntax', /over 255 bytes/],
    [`send ${'é'.repeat(128)} x`, 'syntax', /over 255 bytes/],
    ['send a\u0001b x', 'syntax', /control or invisible character/],
    ['send \u200b$SYS x', 'syntax', /control or invisible character/],
    ['recv news/#', 'syntax', /MQTT's wildcards; .* did you mean news\.>\?; usage: recv /],
    ['recv news/+/sport', 'syntax', /did you mean news\.\*\.sport\?/],
    ['recv news.#', 'syntax', /did you mean news\.>\?/],
    ['replay + last 1', 'syntax', /did you mean \*\?/],
    ['help me now', 'syntax', /too many arguments/],
    ['logoff now', 'syntax'],
    ['who a b', 'syntax'],
    ['who a all b', 'syntax'],
    ['topics mine', 'syntax', /too many arguments/],
    ['who a.*', 'syntax', /wildcard/],
    ['recv a as', 'syntax', /^usage: recv/],
    ['recv a as bad name', 'syntax', /'name' after the cursor name: a cursor name has no spaces/],
    ['recv a as bad/name', 'syntax', /a cursor name is 1 to 64 letters, digits/],
    [`recv a as ${'n'.repeat(65)}`, 'syntax', /a cursor name is 1 to 64/],
    ['recv a as c since', 'syntax', /since needs/],
    ['mark c', 'syntax', /^usage: mark <cursor> <id>$/],
    ['mark c x', 'syntax', /'x' is not a message id/],
    ['mark c 1 2', 'syntax', /too many arguments/],
    ['forget', 'syntax'],
    ['cursors all', 'syntax', /too many arguments/],
    ['take jobs', 'syntax', /take needs 'as <group>'/],
    ['take jobs g', 'syntax', /take needs 'as <group>'/],
    ['take jobs as', 'syntax', /^usage: take/],
    ['take jobs as g max 0', 'syntax', /max needs a whole number of at least 1/],
    ['take jobs as g max', 'syntax', /max needs/],
    ['take jobs as g wait 5x', 'syntax', /'5x' is not a duration; use a number and a unit/],
    ['take jobs as g wait 0s', 'syntax', /wait is from 1ms to 30d/],
    ['take jobs as g wait 31d', 'syntax', /wait is from 1ms to 30d/],
    ['take jobs as g tries -1', 'syntax', /tries needs a whole number of at least 0/],
    ['take jobs as g max 2 max 3', 'syntax', /max is given twice/],
    ['take jobs as g since 1 last 2', 'syntax', /'since' or 'last', not both/],
    ['take jobs as g soon', 'syntax', /unexpected 'soon'; the options are since, max, wait and tries/],
    ['ack', 'syntax', /^usage: ack <id>$/],
    ['ack x', 'syntax', /'x' is not a message id/],
    ['ack 1 2', 'syntax', /too many arguments/],
    ['nack 1 5x', 'syntax', /'5x' is not a duration/],
    ['nack 1 5s 6s', 'syntax', /too many arguments/],
    ['touch', 'syntax'],
    ['pending', 'syntax'],
    ['pending a b', 'syntax', /too many arguments/],
    ['request', 'syntax', /^usage: request/],
    ['request ask', 'syntax', /the message is missing/],
    ['request ask within 5x hi', 'syntax', /'5x' is not a duration/],
    ['request ask within', 'syntax', /within needs a duration/],
    ['request ask within 10s', 'syntax', /the message is missing/],
    ['request a.* hi', 'syntax', /wildcard/],
    ['reply', 'syntax', /^usage: reply/],
    ['reply 5', 'syntax', /the answer is missing/],
    ['reply x hi', 'syntax', /'x' is not a message id/],
  ];
  for (const [line, expected, text] of table) {
    const result = parse(line);
    t.ok(result instanceof ProtocolError, line);
    t.equal(code(line), expected, line);
    if (text) t.match((result as ProtocolError).message, text, line);
  }
  t.equal(`${'t'.repeat(255)}`.length, 255);
  t.same(parse(`send ${'t'.repeat(255)} x`), { verb: 'send', topic: 't'.repeat(255), body: 'x' }, '255 bytes is allowed');
  t.equal(replyLine(parse('send') as ProtocolError), 'err syntax usage: send <topic> <message>');
});

t.test('HTTP on the line port: a request line or a Host header closes the connection', async (t) => {
  const foreign: string[] = ['GET / HTTP/1.1', 'POST /t/x HTTP/1.0', 'OPTIONS * HTTP/1.1', 'PUT /a?b=c HTTP/2', 'Host: 127.0.0.1:7667', 'host: x', 'HOST:example'];
  for (const line of foreign) {
    const result = parse(line);
    t.ok(result instanceof ForeignProtocolError && result.reason === 'http request' && result.code === 'syntax', line);
  }
  const unknown: string[] = ['get / http/1.1', 'GET /', 'GET / HTTP/1.1 extra', 'post office', 'hosting: no', 'Hostname: x'];
  for (const line of unknown) {
    const result = parse(line);
    t.ok(result instanceof ProtocolError && !(result instanceof ForeignProtocolError), `${line}: an unknown command, no more`);
  }
});
