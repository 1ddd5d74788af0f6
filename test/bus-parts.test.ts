/**
 * Pure parts of the bus as tables, on Node's mock timers: the waiting
 * requests (every order of a reply's claim, its commit's outcome, the
 * timeout and the asker leaving), a connection's attachments, durations,
 * and the rates of `stats`.
 */
import t from 'tap';
import { mock } from 'node:test';
import { Requests } from '../src/bus/requests.js';
import { Attachments } from '../src/queue/attachments.js';
import type { Member } from '../src/queue/queue.js';
import { Stats } from '../src/bus/stats.js';
import { duration } from '../src/protocol/wire.js';
import { mockTimers } from './mock-timers.js';

type Step = 'claim' | 'commit' | 'fail' | 'timeout' | 'gone' | 'claim again';

const cases: { steps: Step[]; heard: string[]; claims: boolean[]; waiting: number }[] = [
  { steps: ['claim', 'commit'], heard: ['answered by bob: 42'], claims: [true], waiting: 0 },
  { steps: ['timeout'], heard: ['timed out'], claims: [], waiting: 0 },
  { steps: ['timeout', 'claim'], heard: ['timed out'], claims: [false], waiting: 0 },
  { steps: ['claim', 'claim again', 'commit'], heard: ['answered by bob: 42'], claims: [true, false], waiting: 0 },
  // A failed commit frees the request for the next reply.
  { steps: ['claim', 'fail', 'claim again', 'commit'], heard: ['answered by bob: 42'], claims: [true, true], waiting: 0 },
  // The time runs out while an answer is being committed: its outcome decides.
  { steps: ['claim', 'timeout', 'commit'], heard: ['answered by bob: 42'], claims: [true], waiting: 0 },
  { steps: ['claim', 'timeout', 'fail'], heard: ['timed out'], claims: [true], waiting: 0 },
  { steps: ['claim', 'fail'], heard: [], claims: [true], waiting: 1 },
  { steps: ['gone', 'claim'], heard: [], claims: [false], waiting: 0 },
  { steps: ['gone', 'timeout'], heard: [], claims: [], waiting: 0 },
  { steps: ['claim', 'gone', 'commit'], heard: [], claims: [true], waiting: 0 },
  // The asker's connection closes after its answer came.
  { steps: ['claim', 'commit', 'gone'], heard: ['answered by bob: 42'], claims: [true], waiting: 0 },
];

t.test('a request hears one outcome, whatever the order of events', async (t) => {
  mockTimers({ apis: ['setTimeout', 'Date'] });
  t.teardown(() => mock.timers.reset());
  for (const { steps, heard, claims, waiting } of cases) {
    const requests = new Requests();
    const outcomes: string[] = [];
    requests.wait(7, { answered: (responder, answer) => outcomes.push(`answered by ${responder}: ${answer}`), timedOut: () => outcomes.push('timed out') }, 1000, 'q');
    let claim: ReturnType<Requests['claim']>;
    const claimed: boolean[] = [];
    for (const step of steps) {
      if (step === 'claim' || step === 'claim again') {
        const next = requests.claim(7);
        claimed.push(next !== undefined);
        claim = next ?? claim;
      } else if (step === 'commit' || step === 'fail') {
        requests.settle(7, claim as NonNullable<typeof claim>, step === 'commit' ? { responder: 'bob', text: '42' } : undefined);
      } else if (step === 'timeout') {
        mock.timers.tick(1000);
      } else {
        requests.gone(7);
      }
    }
    t.same(outcomes, heard, steps.join(', '));
    t.same(claimed, claims, `${steps.join(', ')}: claims`);
    t.equal(requests.size, waiting, `${steps.join(', ')}: still waiting`);
  }
});

type GrantStep = 'grant bob' | 'grant carol' | 'release bob' | 'answered bob' | 'answered carol' | 'timeout' | 'lease' | 'gone';

/** A cluster's reply through another daemon: granted, then stored (answered) or not (released, or its lease lapsed). */
const grants: { steps: GrantStep[]; heard: string[]; grants: string[]; waiting: number }[] = [
  { steps: ['grant bob', 'answered bob'], heard: ['answered by bob: 42'], grants: ['granted'], waiting: 0 },
  { steps: ['grant bob', 'grant carol', 'answered bob'], heard: ['answered by bob: 42'], grants: ['granted', 'taken'], waiting: 0 },
  // Only the one granted answers, and only once.
  { steps: ['grant bob', 'answered carol'], heard: [], grants: ['granted'], waiting: 1 },
  { steps: ['grant bob', 'answered bob', 'answered bob', 'grant carol'], heard: ['answered by bob: 42'], grants: ['granted', 'none'], waiting: 0 },
  { steps: ['grant bob', 'release bob', 'grant carol', 'answered carol'], heard: ['answered by carol: 42'], grants: ['granted', 'granted'], waiting: 0 },
  { steps: ['grant bob', 'lease', 'grant carol'], heard: ['timed out'], grants: ['granted', 'none'], waiting: 0 },
  // The time runs out while a reply is granted: whether it is stored decides.
  { steps: ['grant bob', 'timeout', 'answered bob'], heard: ['answered by bob: 42'], grants: ['granted'], waiting: 0 },
  { steps: ['grant bob', 'timeout', 'release bob'], heard: ['timed out'], grants: ['granted'], waiting: 0 },
  { steps: ['grant bob', 'gone', 'answered bob'], heard: [], grants: ['granted'], waiting: 0 },
  { steps: ['timeout', 'grant bob'], heard: ['timed out'], grants: ['none'], waiting: 0 },
];

t.test("a request answered through another daemon hears one outcome, whatever the order of events", async (t) => {
  mockTimers({ apis: ['setTimeout', 'Date'] });
  t.teardown(() => mock.timers.reset());
  for (const { steps, heard, grants: expected, waiting } of grants) {
    const requests = new Requests();
    const outcomes: string[] = [];
    requests.wait(7, { answered: (responder, answer) => outcomes.push(`answered by ${responder}: ${answer}`), timedOut: () => outcomes.push('timed out') }, 1000, 'q');
    const granted: string[] = [];
    for (const step of steps) {
      const [verb, who] = step.split(' ') as [string, string];
      if (verb === 'grant') granted.push(requests.grant(7, who, 5000));
      else if (verb === 'release') requests.release(7, who);
      else if (verb === 'answered') requests.answered(7, who, '42');
      else if (verb === 'gone') requests.gone(7);
      else mock.timers.tick(verb === 'timeout' ? 1000 : 5000);
    }
    t.same(outcomes, heard, steps.join(', '));
    t.same(granted, expected, `${steps.join(', ')}: grants`);
    t.equal(requests.size, waiting, `${steps.join(', ')}: still waiting`);
    requests.stop();
  }
});

t.test('a claim waits for the questions being published to know their ids; later ones do not hold it', async (t) => {
  const requests = new Requests();
  await requests.numbered();
  const numbered = requests.asking();
  let settled = false;
  const waited = requests.numbered().then(() => (settled = true));
  const later = requests.asking();
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(settled, 'the question is not numbered yet');
  requests.wait(9, { answered: () => undefined, timedOut: () => undefined }, 1000, 'q');
  numbered();
  await waited;
  t.equal(requests.grant(9, 'bob', 1000), 'granted', 'its request waits by now');
  later();
  requests.stop();
});

t.test('a release callback added after the release runs at once; a cancelled one never', async (t) => {
  const attachments = new Attachments();
  const ran: string[] = [];
  const cancel = attachments.onRelease(() => ran.push('cancelled'));
  attachments.onRelease(() => ran.push('before'));
  cancel();
  attachments.release();
  t.same(ran, ['before']);
  const noop = attachments.onRelease(() => ran.push('after'));
  t.same(ran, ['before', 'after']);
  noop();
  attachments.release();
  t.same(ran, ['before', 'after'], 'a second release runs nothing again');
});

t.test('durations read back as written', async (t) => {
  for (const [ms, text] of [
    [10_000, '10s'],
    [1500, '1500ms'],
    [200, '200ms'],
    [0, '0s'],
  ] as const) {
    t.equal(duration(ms), text);
  }
});

t.test('a member that joins after its connection went leaves at once', async (t) => {
  const attachments = new Attachments();
  const left: unknown[] = [];
  const member = { group: { leave: (m: unknown) => left.push(m) } } as unknown as Member;
  attachments.release();
  attachments.joined(member);
  t.same(left, [member]);
  t.equal(attachments.size, 0);
});

t.test('uptime; rates average the last ten seconds; before a sample, everything since start', async (t) => {
  mockTimers({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  t.teardown(() => mock.timers.reset());
  const rate = (stats: Stats, name: string): number | undefined => stats.pairs().find(([key]) => key === name)?.[1];
  const unstarted = new Stats();
  unstarted.messagesIn = 30;
  mock.timers.tick(3000);
  t.equal(rate(unstarted, 'in_per_s'), 10, 'no samples: 30 over the 3 s since start');
  mock.timers.tick(999);
  t.equal(rate(unstarted, 'uptime_s'), 3, 'uptime in whole seconds, rounded down');
  const stats = new Stats();
  stats.start();
  t.teardown(() => stats.stop());
  for (let second = 1; second <= 30; second++) {
    stats.messagesIn += second <= 20 ? 100 : 10;
    stats.messagesOut += 50;
    mock.timers.tick(1000);
  }
  t.equal(rate(stats, 'in_per_s'), 10, 'the last ten seconds only');
  t.equal(rate(stats, 'out_per_s'), 50);
});
