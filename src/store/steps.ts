/**
 * Reads of the journal that may take long come as generators that yield
 * between bounded steps, so a caller serving clients can wait between them
 * (for a client's room, for the end of a turn).
 */

/** Runs a stepping generator to its end at once (where yielding is not needed). */
export function runSteps<T>(steps: Generator<void, T>): T {
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}
