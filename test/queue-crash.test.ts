/**
 * PROTOCOL.md, "Work queues": a kill -9 of the daemon in the middle of a
 * queue of 10,000 jobs taken by three workers. After the restart, by the
 * workers' own count: every job acked, none acked twice, none delivered
 * again after its `ok ack`; the acks in flight at the kill either came
 * again or were committed.
 */
import t from 'tap';
import { join } from 'node:path';
import { LineClient, tempDir } from './helpers.js';
import { serve } from './cli-helpers.js';

const JOBS = 10_000;
const WORKERS = 3;

interface Ledger {
  /** Ids whose `ok ack` a worker saw, and how often. */
  acked: Map<number, number>;
  /** Ids acked whose `ok ack` has not come (yet). */
  inFlight: Set<number>;
  /** A job line for an id already acked, an unexpected line. */
  problems: string[];
  /** Called after every `ok ack`. */
  progress: () => void;
}

/** Joins the group, then takes jobs and acks each at once until its connection closes. */
async function worker(port: number, name: string, ledger: Ledger): Promise<{ finished: Promise<void> }> {
  const c = await LineClient.login(port, name);
  c.write('take work as g max 20');
  const reply = await c.line();
  if (reply !== 'ok take work as g') ledger.problems.push(`${name}: ${reply}`);
  return { finished: work(c, name, ledger) };
}

async function work(c: LineClient, name: string, ledger: Ledger): Promise<void> {
  for (let line = await c.line(); line !== undefined; line = await c.line()) {
    const [kind, second, third] = line.split(' ');
    if (kind === 'job') {
      const id = Number(third);
      if (ledger.acked.has(id)) ledger.problems.push(`${name}: job ${id} again after its ok ack`);
      ledger.inFlight.add(id);
      c.write(`ack ${id}`);
    } else if (kind === 'ok' && second === 'ack') {
      const id = Number(third);
      ledger.inFlight.delete(id);
      ledger.acked.set(id, (ledger.acked.get(id) ?? 0) + 1);
      ledger.progress();
    } else {
      ledger.problems.push(`${name}: ${line}`);
    }
  }
}

t.test('kill -9 in the middle of 10,000 jobs and three workers: each acked exactly once', { timeout: 90000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const first = await serve(['--db', db]);
  let reached: () => void = () => {};
  const ledger: Ledger = { acked: new Map(), inFlight: new Set(), problems: [], progress: () => {} };
  const third = new Promise<void>((resolve) => (reached = resolve));
  ledger.progress = () => {
    if (ledger.acked.size >= JOBS * 0.3) reached();
  };
  // Every worker is a member before the first job is sent.
  const workers = await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(first.port, `w${i + 1}`, ledger)));
  const probe = await LineClient.login(first.port, 'tx');
  for (let i = 0; i < JOBS; i += 500) {
    probe.write(...Array.from({ length: 500 }, (_, j) => `send work job${i + j + 1}`));
    await probe.lines(500);
  }
  await third;
  first.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.finished));
  probe.close();
  const inFlightAtKill = new Set(ledger.inFlight);
  t.ok(ledger.acked.size < JOBS, `killed with ${ledger.acked.size} acked, ${inFlightAtKill.size} acks in flight`);

  const again = await serve(['--db', db]);
  t.teardown(() => again.child.kill('SIGKILL'));
  let done: () => void = () => {};
  const covered = new Promise<void>((resolve) => (done = resolve));
  const isCovered = (): boolean => {
    for (let id = 1; id <= JOBS; id++) if (!ledger.acked.has(id) && !inFlightAtKill.has(id)) return false;
    return true;
  };
  ledger.inFlight.clear();
  ledger.progress = () => {
    if (ledger.acked.size >= JOBS - inFlightAtKill.size && isCovered()) done();
  };
  const restarted = await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(again.port, `w${i + 1}`, ledger)));
  await covered;
  const check = await LineClient.login(again.port, 'check');
  check.write('pending g');
  t.equal(await check.line(), 'ok pending g 0', 'nothing left: the acks in flight that did not come again were committed');
  check.write('stats');
  const stats = await check.until('ok stats');
  t.ok(stats.includes('stat jobs_pending 0'));
  t.same(ledger.problems, [], 'no job came again after its ok ack; no unexpected line');
  t.same([...ledger.acked.values()].filter((n) => n > 1), [], 'none acked twice');
  t.equal([...ledger.acked.keys()].filter((id) => id < 1 || id > JOBS).length, 0);
  t.equal(new Set([...ledger.acked.keys(), ...inFlightAtKill]).size, JOBS, 'all 10,000 accounted for');
  again.child.kill('SIGTERM');
  await Promise.all(restarted.map((w) => w.finished));
  check.close();
});
