/**
 * Per-user caps hold when many connections of one user ask at once
 * (issue 20, item 11): the check and the making are one step, not two
 * around a wait for the journal.
 */
import t from 'tap';
import { LineClient, startServer } from './helpers.js';

const CONNECTIONS = 60;

async function atOnce(port: number, line: (i: number) => string): Promise<string[]> {
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => LineClient.login(port, 'greedy')));
  for (const [i, c] of clients.entries()) c.write(line(i));
  const answers = await Promise.all(clients.map((c) => c.line()));
  for (const c of clients) c.close();
  return answers.map((answer) => (answer ?? '').split(' ').slice(0, 2).join(' '));
}

function tally(answers: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) counts[answer] = (counts[answer] ?? 0) + 1;
  return counts;
}

t.test('--max-groups 5: sixty connections of one user make five groups', async (t) => {
  const { port, server } = await startServer(t, { maxGroups: 5 });
  const writer = await LineClient.login(port, 'writer');
  writer.write('send jobs.warm x');
  t.equal(await writer.line(), 'ok send 1');
  t.same(tally(await atOnce(port, (i) => `take jobs.${i} as g${i} since 0`)), { 'ok take': 5, 'err busy': CONNECTIONS - 5 });
  t.equal(server.stats().find(([name]) => name === 'groups')?.[1], 5);
  writer.close();
});

t.test('--max-cursors 5: sixty connections of one user make five cursors', async (t) => {
  const { port } = await startServer(t, { maxCursors: 5 });
  t.same(tally(await atOnce(port, (i) => `recv c.${i} as c${i} since 0`)), { 'ok recv': 5, 'err busy': CONNECTIONS - 5 });
  const check = await LineClient.login(port, 'greedy');
  check.write('cursors');
  t.equal((await check.until('ok cursors')).pop(), 'ok cursors 5');
  check.close();
});
