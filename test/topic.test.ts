import t from 'tap';
import { isReservedTopic, isWildcardPattern, matches, patternProblem, topicProblem } from '../src/protocol/topic.js';

t.test('matches', async (t) => {
  const table: [string, string, boolean][] = [
    ['syslib', 'syslib', true],
    ['syslib', 'syslib2', false],
    ['news.*.sport', 'news.europe.sport', true],
    ['news.*.sport', 'news.europe.x.sport', false],
    ['news.*.sport', 'news.sport', false],
    ['news.>', 'news.europe', true],
    ['news.>', 'news.europe.sport', true],
    ['news.>', 'news', false],
    ['>', 'anything', true],
    ['>', 'a.b.c', true],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['*.*', 'a.b', true],
    ['*.>', 'a', false],
    ['*.>', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*.>', 'a.b.c', true],
    ['a.*.>', 'a.b', false],
    ['#ops', '#ops', true],
    ['a.b', 'a.c', false],
    ['a.b.c', 'a.b', false],
  ];
  for (const [pattern, topic, expected] of table) t.equal(matches(pattern, topic), expected, `${pattern} ~ ${topic}`);
});

t.test('topic and pattern validity', async (t) => {
  t.equal(topicProblem('news.europe.sport'), undefined);
  t.equal(topicProblem('#ops'), undefined);
  t.equal(topicProblem('a*b'), undefined);
  t.match(topicProblem(''), /empty topic/);
  t.match(topicProblem('a b'), /space, control or invisible/);
  t.match(topicProblem('a\u00a0b'), /space, control or invisible/);
  t.match(topicProblem('a\u007fb'), /space, control or invisible/);
  t.match(topicProblem('a.'), /empty segment/);
  t.match(topicProblem('a.*'), /wildcard/);
  t.equal(patternProblem('a.*'), undefined);
  t.equal(patternProblem('>'), undefined);
  t.match(patternProblem('>.a'), /last segment/);
  t.match(patternProblem('x'.repeat(256)), /over 255 bytes/);
  t.equal(isWildcardPattern('a.*'), true);
  t.equal(isWildcardPattern('a.b>'), false);
  t.equal(isReservedTopic('$sys.x'), true);
  t.equal(isReservedTopic('sys.$x'), false);
});

t.test('look-alikes of $ and invisible characters do not pass', async (t) => {
  t.equal(isReservedTopic('\uff04SYS'), true, 'fullwidth dollar');
  t.equal(isReservedTopic('\ufe69SYS'), true, 'small dollar');
  t.equal(isReservedTopic('\u00e9t\u00e9'), false, 'other non-ASCII first characters are ordinary');
  for (const invisible of ['\u200b', '\u200d', '\u202e', '\ufeff', '\u2060']) {
    t.match(topicProblem(`${invisible}$SYS`), /invisible/, `U+${invisible.charCodeAt(0).toString(16)}`);
  }
});

t.test("MQTT's wildcards get a hint instead of never matching", async (t) => {
  const table: [string, string | undefined][] = [
    ['news/#', 'news.>'],
    ['news/+/sport', 'news.*.sport'],
    ['+/sport', '*.sport'],
    ['news.#', 'news.>'],
    ['#', '>'],
    ['+', '*'],
    ['#ops', undefined],
    ['c++', undefined],
    ['a/b', undefined],
    ['news.#.x', 'news.>.x'],
  ];
  for (const [pattern, meant] of table) {
    const problem = patternProblem(pattern);
    if (meant === undefined) t.equal(problem, undefined, pattern);
    else t.equal(problem, `'#' and '+' are MQTT's wildcards; linebus uses '*' for one segment and '>' for the rest, with '.' between segments: did you mean ${meant}?`, pattern);
  }
});
