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
  t.match(topicProblem('a b'), /space or control/);
  t.match(topicProblem('a\u00a0b'), /space or control/);
  t.match(topicProblem('a\u007fb'), /space or control/);
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
