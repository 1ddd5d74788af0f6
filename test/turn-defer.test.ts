/** Turn.defer: the one place where the bus leaves work for a later turn. */
import t from 'tap';
import { Turn } from '../src/bus/turn.js';

t.test('a deferred task runs once when the turn ends, before the steps; one deferred meanwhile waits for the next end', async (t) => {
  const turn = new Turn();
  const order: string[] = [];
  turn.addStep(() => order.push('step'));
  turn.defer(() => {
    order.push('task');
    turn.defer(() => order.push('later task'));
  });
  await turn.ended();
  t.same(order, ['task', 'step'], 'the task, then the steps it may have given work');
  await turn.ended();
  t.same(order, ['task', 'step', 'later task', 'step'], 'deferred while the turn ended: the next end runs it');
  t.equal(turn.count, 2);
});
