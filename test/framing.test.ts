import t from 'tap';
import { decodeLine, LineFramer } from '../src/protocol/framing.js';
import type { Frame } from '../src/protocol/framing.js';
import { TelnetFilter } from '../src/protocol/telnet.js';

const IAC = 0xff;

/** Feeds `input` in the given pieces; returns the frames. */
function frames(pieces: Buffer[], maxLine = 16): Frame[] {
  const out: Frame[] = [];
  let ended = 0;
  const framer = new LineFramer(maxLine, (frame) => out.push(frame), () => ended++);
  for (const piece of pieces) framer.write(piece);
  framer.end();
  framer.end();
  framer.write(Buffer.from('after end\n'));
  return out;
}

/** Every way of cutting `input` in two, plus one byte at a time. */
function splits(input: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[input]];
  for (let i = 1; i < input.length; i++) ways.push([input.subarray(0, i), input.subarray(i)]);
  ways.push([...input].map((byte) => Buffer.from([byte])));
  return ways;
}

t.test('telnet filter', async (t) => {
  const table: [number[], number[], string][] = [
    [[0x61, 0x62], [0x61, 0x62], 'plain bytes pass'],
    [[0x61, IAC, IAC, 0x62], [0x61, IAC, 0x62], 'IAC IAC is one 0xFF'],
    [[0x61, IAC, 0xfb, 0x01, 0x62], [0x61, 0x62], 'WILL takes an option byte'],
    [[IAC, 0xfc, 0x03, IAC, 0xfd, 0x1f, IAC, 0xfe, 0x18, 0x61], [0x61], 'WONT, DO, DONT'],
    [[0x61, IAC, 0xf4, 0x62], [0x61, 0x62], 'IP (0xF4) alone'],
    [[IAC, 0xf0, IAC, 0xf9, 0x61], [0x61], 'SE and GA'],
    [[0x61, IAC, 0xfa, 0x18, 0x00, 0x0a, IAC, IAC, IAC, 0xf0, 0x62], [0x61, 0x62], 'SB ... IAC SE, with an escaped IAC and an LF inside'],
    [[0x61, IAC, 0x41, 0x62], [0x61, IAC, 0x41, 0x62], 'IAC then a non-command byte stays data'],
  ];
  for (const [input, expected, name] of table) {
    for (const pieces of splits(Buffer.from(input))) {
      const filter = new TelnetFilter();
      const out = Buffer.concat([...pieces.map((piece) => filter.filter(piece)), filter.end()]);
      t.same([...out], expected, `${name} (${pieces.length} pieces)`);
    }
  }
  const filter = new TelnetFilter();
  t.same([...filter.filter(Buffer.from([0x61, IAC]))], [0x61]);
  t.same([...filter.end()], [IAC], 'a lone IAC at the end is data');
  const sub = new TelnetFilter();
  sub.filter(Buffer.from([IAC, 0xfa, 0x01]));
  t.same([...sub.end()], [], 'an unfinished subnegotiation is dropped');
});

t.test('decodeLine', async (t) => {
  t.same(decodeLine('hello', 5), { kind: 'line', text: 'hello' });
  t.same(decodeLine('hello!', 5), { kind: 'toolong', bytes: 6 });
  const e = Buffer.from('é').toString('latin1');
  t.same(decodeLine(e, 2), { kind: 'line', text: 'é' });
  t.same(decodeLine(e, 1), { kind: 'toolong', bytes: 2 }, 'the limit counts bytes, not characters');
  t.same(decodeLine('\xff', 5), { kind: 'encoding' });
  t.same(decodeLine('\xc3(', 5), { kind: 'encoding' }, 'a broken two-byte sequence');
  t.same(decodeLine('\xed\xa0\x80', 5), { kind: 'encoding' }, 'an encoded surrogate');
  const replacement = Buffer.from('\ufffd').toString('latin1');
  t.same(decodeLine(replacement, 5), { kind: 'line', text: '\ufffd' }, 'a real U+FFFD is text');
});

t.test('framing at every byte boundary', async (t) => {
  const input = Buffer.concat([
    Buffer.from('send a hé\r\n'),
    Buffer.from([IAC, 0xfd, 0x01]),
    Buffer.from('ping\n'),
    Buffer.from('bad \xc3\x28\n', 'latin1'),
    Buffer.from(`${'x'.repeat(40)}\r\n`),
    Buffer.from('\n\r\n'),
    Buffer.from('x'.repeat(16)),
    Buffer.from('\r\n'),
    Buffer.from('x'.repeat(16)),
    Buffer.from('\rz\n'),
    Buffer.from('last'),
  ]);
  const expected: Frame[] = [
    { kind: 'line', text: 'send a hé' },
    { kind: 'line', text: 'ping' },
    { kind: 'encoding' },
    { kind: 'toolong', bytes: 41 },
    { kind: 'line', text: '' },
    { kind: 'line', text: '' },
    { kind: 'line', text: 'x'.repeat(16) },
    { kind: 'toolong', bytes: 18 },
    { kind: 'line', text: 'last' },
  ];
  for (const pieces of splits(input)) t.same(frames(pieces), expected, `${pieces.length} pieces`);
});

t.test('a line of exactly the limit, plus CR, is accepted; one more byte is not', async (t) => {
  t.same(frames([Buffer.from(`${'y'.repeat(16)}\r\n${'y'.repeat(17)}\n`)]), [
    { kind: 'line', text: 'y'.repeat(16) },
    { kind: 'toolong', bytes: 17 },
  ]);
  t.same(frames([Buffer.from(`${'y'.repeat(16)}\r\r\n`)]), [{ kind: 'toolong', bytes: 18 }], 'an inner CR counts');
});

t.test('a lone IAC just before the end of input stays in the last line', async (t) => {
  t.same(frames([Buffer.from([0x61, IAC])]), [{ kind: 'encoding' }]);
});
