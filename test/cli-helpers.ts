import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams, SpawnOptionsWithoutStdio } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/linebus', import.meta.url));
const COVERAGE_DIR = fileURLToPath(new URL('../../.tap/coverage', import.meta.url));

/**
 * The command line that starts node in a child without tap's loader. tap
 * puts its process-info loader in NODE_OPTIONS of every spawn (and back
 * again if the env lacks it); in a linebus child it costs about 0.5 s of
 * CPU and twice that of wall time per start, since every module load goes
 * through its hooks thread, and the suite starts linebus a hundred-odd
 * times. env(1) execs node without NODE_OPTIONS. When tap measures
 * coverage, the child gets NODE_V8_COVERAGE=.tap/coverage instead: V8
 * writes its coverage there at exit, in the form tap's report (c8) reads
 * beside the tests' own. Starting tap's inspector session in the child
 * instead, as tap's import does, cost 0.13 s more CPU per start.
 */
export function nodeCommand(): string[] {
  const measured = process.env._TAPJS_PROCESSINFO_COVERAGE_ === '1';
  return [ENV, ...NO_LOADER, SMALL_WAL, ...(measured ? [`NODE_V8_COVERAGE=${COVERAGE_DIR}`] : []), process.execPath];
}

/** env(1) and its arguments that run a node program that is not linebus (npm, a client script) without tap's loader. */
export const ENV = '/usr/bin/env';
export const NO_LOADER = ['-u', 'NODE_OPTIONS'];
/**
 * The WAL a test's daemon gets at start (startServer's, and a `linebus
 * serve` child's through SMALL_WAL): one chunk of wal.ts, so that the
 * preallocation runs, written and synced, without the 128 MiB a serving
 * daemon gets. npm test starts a few hundred daemons: with 128 MiB each
 * it wrote 31 GB (time -v, file system outputs) and each start cost 0.2
 * to 0.4 s of the machine's CPU, most of it the kernel's writeback, which
 * time(1) of npm test does not count.
 */
export const TEST_WAL_BYTES = 1 << 20;
/** For env(1): LINEBUS_WAL_PREALLOCATE_BYTES of a `linebus serve` child (see TEST_WAL_BYTES). */
export const SMALL_WAL = `LINEBUS_WAL_PREALLOCATE_BYTES=${TEST_WAL_BYTES}`;

/** The `linebus` children still running. */
const running = new Set<ChildProcessWithoutNullStreams>();

/**
 * Kills the children still running when the test process exits: a test
 * that failed before it stopped its daemon would otherwise leave it
 * running after the suite. Registered with the first child.
 */
function killAtExit(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Starts `linebus args...` (see nodeCommand). */
export function linebus(args: string[], options: SpawnOptionsWithoutStdio = {}): ChildProcessWithoutNullStreams {
  const [command, ...rest] = nodeCommand() as [string, ...string[]];
  const child = spawn(command, [...rest, BIN, ...args], options);
  if (running.size === 0) process.once('exit', killAtExit);
  running.add(child);
  child.once('exit', () => {
    running.delete(child);
    if (running.size === 0) process.off('exit', killAtExit);
  });
  return child;
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `linebus args...` to completion, with `input` on stdin. */
export function run(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const child = linebus(args, { env: { ...process.env, ...env } });
  return finish(child, input);
}

export function finish(child: ChildProcessWithoutNullStreams, input?: string): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  if (input !== undefined) child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

export interface Serving {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stderr: () => string;
  /** Resolves once stderr, so far or later, matches `pattern`. */
  logged(pattern: RegExp): Promise<void>;
}

/** Starts `linebus serve` and resolves once it logs the port it listens on. */
export function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serving> {
  const child = linebus(['serve', '--port', '0', ...args], { env: { ...process.env, ...env } });
  let stderr = '';
  const logged = (pattern: RegExp): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!pattern.test(stderr)) return;
        child.stderr.off('data', check);
        resolve();
      };
      // Registered after serve()'s own listener, so stderr holds the chunk.
      child.stderr.on('data', check);
      check();
    });
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      const match = /listening on [^\s]+:(\d+)/.exec(stderr);
      if (match) resolve({ child, port: Number(match[1]), stderr: () => stderr, logged });
    });
    child.on('close', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}
