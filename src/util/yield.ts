/**
 * A pause in long work done in steps (a POST's answer, a count of cursor
 * lags): it resumes after the event loop has served the I/O that waits.
 */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
