import t from 'tap';
import { payloadBody } from '../src/mqtt/payload.js';
import type { MqttRefusalReason } from '../src/mqtt/refusals.js';

const MAX_LINE = 16;

t.test('payloads that are one line of UTF-8 become bodies', async (t) => {
  const table: [string, number[] | string, string][] = [
    ['text', '21.5', '21.5'],
    ['empty: an empty body', '', ''],
    ['inner and trailing spaces kept', ' a  b ', ' a  b '],
    ['a tab', 'a\tb', 'a\tb'],
    ['UTF-8', 'température', 'température'],
    ['an emoji', '😀', '😀'],
    ['a real U+FFFD', '\ufffd', '\ufffd'],
    ['exactly --max-line bytes', 'x'.repeat(MAX_LINE), 'x'.repeat(MAX_LINE)],
    ['--max-line bytes of two-byte characters', 'é'.repeat(MAX_LINE / 2), 'é'.repeat(MAX_LINE / 2)],
    ['other controls are text', [0x01, 0x1b, 0x7f], '\x01\x1b\x7f'],
  ];
  for (const [name, payload, body] of table) {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
    t.same(payloadBody(bytes, MAX_LINE), { ok: true, value: body }, name);
  }
});

t.test('payloads that are not', async (t) => {
  const table: [string, number[] | string, MqttRefusalReason][] = [
    ['one byte over --max-line', 'x'.repeat(MAX_LINE + 1), 'payload-too-long'],
    ['over --max-line in characters of two bytes', 'é'.repeat(MAX_LINE / 2) + 'x', 'payload-too-long'],
    ['LF', 'a\nb', 'payload-newline'],
    ['CR', 'a\rb', 'payload-newline'],
    ['CRLF at the end', 'a\r\n', 'payload-newline'],
    ['a lone LF', '\n', 'payload-newline'],
    ['NUL', [0x61, 0x00, 0x62], 'payload-nul'],
    ['a lone continuation byte', [0x61, 0x80], 'payload-not-utf8'],
    ['an overlong encoding', [0xc0, 0xaf], 'payload-not-utf8'],
    ['a truncated sequence', [0xe2, 0x82], 'payload-not-utf8'],
    ['an encoded surrogate', [0xed, 0xa0, 0x80], 'payload-not-utf8'],
    ['over U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 'payload-not-utf8'],
    ['latin1', [0x74, 0x65, 0x6d, 0x70, 0xe9], 'payload-not-utf8'],
    ['binary', [0xff, 0xd8, 0xff, 0xe0], 'payload-not-utf8'],
  ];
  for (const [name, payload, reason] of table) {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
    t.same(payloadBody(bytes, MAX_LINE), { ok: false, reason }, name);
  }
});

t.test('a payload that is a view into a larger buffer is read from its own bytes', async (t) => {
  const packet = Buffer.from('\xffheader:hello\nrest', 'latin1');
  t.same(payloadBody(packet.subarray(8, 13), MAX_LINE), { ok: true, value: 'hello' });
});
