/** Node's mock timers for tests that need a clock they move themselves. */
import { mock } from 'node:test';

/**
 * Enables Node's mock timers without the warning that Node 20 to 22 print
 * once per process, on every run, because the API is experimental: it says
 * nothing about linebus. Only that warning is dropped; any other still shows.
 */
export function mockTimers(options: Parameters<typeof mock.timers.enable>[0]): typeof mock.timers {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: never[]) => {
    if (!String(warning).startsWith('The MockTimers API is an experimental feature')) emitWarning.call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    mock.timers.enable(options);
  } finally {
    process.emitWarning = emitWarning;
  }
  return mock.timers;
}
