/**
 * What the linebus children of the tests import (node --import) when tap
 * measures coverage: tap's record of the process and its coverage session,
 * as tap's own --import sets them up, without the loader that one adds
 * (see nodeCommand in cli-helpers.ts): the children are measured as the
 * tests are. Not in their checkpoint threads, which read NODE_OPTIONS too:
 * as in the tests' own daemons (helpers.ts), the thread's code is measured
 * where it is tested, in faults.test.ts.
 */
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const processInfo = new URL('../../node_modules/@tapjs/processinfo/dist/esm/get-process-info.js', import.meta.url);
  const { getProcessInfo } = (await import(processInfo.href)) as { getProcessInfo: () => unknown };
  getProcessInfo();
}
