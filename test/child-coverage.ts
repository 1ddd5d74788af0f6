/**
 * What the linebus children of the tests import (node --import) when tap
 * measures coverage: tap's record of the process and its coverage session,
 * as tap's own --import sets them up, without the loader that one adds
 * (see nodeCommand in cli-helpers.ts): the children are measured as the
 * tests are.
 */
const processInfo = new URL('../../node_modules/@tapjs/processinfo/dist/esm/get-process-info.js', import.meta.url);
const { getProcessInfo } = (await import(processInfo.href)) as { getProcessInfo: () => unknown };
getProcessInfo();
