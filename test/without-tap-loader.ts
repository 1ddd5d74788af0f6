/**
 * Imported ahead of tap's own --import by every process of npm test and
 * test:quick (NODE_OPTIONS in package.json's scripts): keeps tap's
 * process-info loader from registering its module hooks. On Node 20 they
 * run on a thread of their own that every module a test loads goes
 * through: 0.45 s of CPU per test file, 76 files. What the loader records,
 * the files each process loaded, serves tap's --changed, which the scripts
 * do not use; tap's coverage session starts without it. (The linebus
 * children are measured through NODE_V8_COVERAGE: nodeCommand in
 * cli-helpers.ts.)
 */
import module from 'node:module';

const register = module.register.bind(module) as (specifier: string | URL, ...rest: unknown[]) => void;
(module as { register: (specifier: string | URL, ...rest: unknown[]) => void }).register = (specifier, ...rest) => {
  if (String(specifier).includes('/@tapjs/processinfo/')) return;
  register(specifier, ...rest);
};
