/**
 * What a queue group owes, in memory on a real journal: a job that comes
 * back goes out first, also after a worker that was closing could not take
 * it; one whose message retention deleted is dropped, and the next goes.
 */
import t from 'tap';
import type { Message } from '../src/protocol/events.js';
import type { Worker } from '../src/queue/queue.js';
import { bench } from './memory-link.js';
import type { Teardown } from './helpers.js';

class FakeWorker implements Worker {
  readonly user = 'w';
  readonly jobs: number[] = [];
  /** False once its connection is closing. */
  open = true;
  mayTake(): boolean {
    return true;
  }

  pushJob(message: Message): boolean {
    if (this.open) this.jobs.push(message.id);
    return this.open;
  }
}

async function withJobs(t: Teardown): Promise<{ b: ReturnType<typeof bench>; group: Awaited<ReturnType<ReturnType<typeof bench>['services']['groups']['create']>> }> {
  const b = bench(t);
  // A page each: retention deletes whole pages.
  for (const body of ['one', 'two', 'three']) b.store.journal.append([{ topic: 'jobs.a', sender: 'tx', body }], 1);
  const group = await b.services.groups.create({ name: 'g', pattern: 'jobs.*', position: 0, waitMs: 30_000, tries: 5, creator: 'w' });
  t.teardown(() => b.services.groups.stop());
  return { b, group };
}

t.test('a job a closing worker could not take goes first to the next', async (t) => {
  const { group } = await withJobs(t);
  const closing = new FakeWorker();
  const member = group.join(closing, 1);
  t.same(closing.jobs, [1]);
  closing.open = false;
  t.equal(group.nack(member, 1, 0, () => {}), true, 'back, and offered to the closing worker again');
  const next = new FakeWorker();
  group.join(next, 3);
  t.same(next.jobs, [1, 2, 3], 'the job that came back first, then the new ones');
  t.equal(group.pending, 3);
});

t.test('a job whose message retention deleted while it waited is dropped; the next goes out', async (t) => {
  const { b, group } = await withJobs(t);
  const first = new FakeWorker();
  const member = group.join(first, 1);
  t.same(first.jobs, [1]);
  group.leave(member);
  t.equal(b.store.journal.deleteOldest(1, 10), 1, 'retention takes message 1');
  const next = new FakeWorker();
  group.join(next, 1);
  t.same(next.jobs, [2]);
  t.same([...group.jobs()].map((job) => job.id), [2], 'job 1 is no longer owed');
});
