/**
 * The programs the tests run besides node, each with the Debian package
 * that has it. `npm test` installs the missing packages first (test/setup.ts,
 * its pretest); a test that still finds a program missing fails at once,
 * naming the package.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** A program on PATH (or an absolute path), or a module of Debian's python3, and the package that has it. */
export type Need = { program: string; debianPackage: string } | { pythonModule: string; debianPackage: string };

const PYTHON = '/usr/bin/python3';

export const NEEDS: readonly Need[] = [
  { program: 'nats-server', debianPackage: 'nats-server' }, // cluster, nats-cluster
  { program: '/usr/bin/chromium', debianPackage: 'chromium' }, // console
  { program: 'openssl', debianPackage: 'openssl' }, // tls, netns: certificates
  { program: 'groff', debianPackage: 'groff-base' }, // docs
  { program: 'systemd-analyze', debianPackage: 'systemd' }, // docs
  { program: PYTHON, debianPackage: 'python3' }, // cli-serve: socket activation
  { program: 'ip', debianPackage: 'iproute2' }, // netns
  { program: 'script', debianPackage: 'bsdutils' }, // prompt: a terminal
  { program: 'mount', debianPackage: 'mount' }, // faults: a small tmpfs
  { program: 'setpriv', debianPackage: 'util-linux' }, // nats-cluster: nodes die with the test
  // The MQTT door's real clients.
  { program: 'mosquitto_pub', debianPackage: 'mosquitto-clients' },
  { program: 'mosquitto_sub', debianPackage: 'mosquitto-clients' },
  { pythonModule: 'paho.mqtt.client', debianPackage: 'python3-paho-mqtt' },
];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The full path of `program`: on PATH, or in /usr/sbin or /usr/bin (a non-root PATH lacks /usr/sbin). */
export function which(program: string): string | undefined {
  if (isAbsolute(program)) return executable(program) ? program : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  return dirs.filter((dir) => dir !== '').map((dir) => join(dir, program)).find(executable);
}

export function present(need: Need): boolean {
  if ('program' in need) return which(need.program) !== undefined;
  return spawnSync(PYTHON, ['-c', `import ${need.pythonModule}`], { stdio: 'ignore' }).status === 0;
}

/** What a need is, for a message. */
export function describeNeed(need: Need): string {
  return 'program' in need ? need.program : `${PYTHON}'s module ${need.pythonModule}`;
}

/** Throws, naming the Debian package to install, when Debian's python3 lacks `module`. */
export function needPythonModule(module: string): void {
  const need = NEEDS.find((candidate) => 'pythonModule' in candidate && candidate.pythonModule === module);
  if (need === undefined) throw new Error(`${module} is not in test/tools.ts NEEDS: add it with its Debian package`);
  if (!present(need)) throw new Error(`${describeNeed(need)} is missing: apt-get install ${need.debianPackage} (npm test's set-up, test/setup.ts, installs it as root)`);
}

/** The full path of `program`; throws, naming the Debian package to install, when it is missing. */
export function tool(program: string): string {
  const need = NEEDS.find((candidate) => 'program' in candidate && candidate.program === program);
  if (need === undefined) throw new Error(`${program} is not in test/tools.ts NEEDS: add it with its Debian package`);
  const path = which(program);
  if (path === undefined) throw new Error(`${program} is missing: apt-get install ${need.debianPackage} (npm test's set-up, test/setup.ts, installs it as root)`);
  return path;
}
