import t from 'tap';
import { parse } from '../src/protocol/parser.js';
import { ProtocolError } from '../src/protocol/errors.js';

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
    ['help', { verb: 'help', about: undefined }],
    ['help SEND', { verb: 'help', about: 'send' }],
    ['logoff', { verb: 'logoff' }],
    ['QUIT', { verb: 'logoff' }],
    ['topics', { verb: 'topics' }],
    ['who news.eu', { verb: 'who', topic: 'news.eu' }],
    ['who', { verb: 'who', topic: undefined }],
    ['stats', { verb: 'stats' }],
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
    ['who a.*', 'syntax', /wildcard/],
  ];
  for (const [line, expected, text] of table) {
    const result = parse(line);
    t.ok(result instanceof ProtocolError, line);
    t.equal(code(line), expected, line);
    if (text) t.match((result as ProtocolError).message, text, line);
  }
  t.equal(`${'t'.repeat(255)}`.length, 255);
  t.same(parse(`send ${'t'.repeat(255)} x`), { verb: 'send', topic: 't'.repeat(255), body: 'x' }, '255 bytes is allowed');
  t.equal((parse('send') as ProtocolError).toLine(), 'err syntax usage: send <topic> <message>');
});
