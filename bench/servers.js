// Starts each server fresh, on loopback, pinned to core 0 where taskset
// exists, and reads its resident memory from /proc.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_CORE = '0';
export const GENERATOR_CORE = '1';

export function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Installs redis-server and nats-server from Debian if they are missing. */
export function ensurePeers(log) {
  const missing = [['redis-server', 'redis-server'], ['nats-server', 'nats-server']].filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  log(`installing ${missing.join(' ')} from Debian (apt-get), for the comparison`);
  const install = spawnSync('sh', ['-c', `apt-get install -y ${missing.join(' ')} || (apt-get update && apt-get install -y ${missing.join(' ')})`], { stdio: 'inherit' });
  if (install.status !== 0) throw new Error(`could not install ${missing.join(' ')}; install them and run again`);
}

function pinned(command, args) {
  return have('taskset') ? ['taskset', ['-c', SERVER_CORE, command, ...args]] : [command, args];
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child) {
  for (let i = 0; i < 500; i++) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`nothing listening on ${port}`);
}

/**
 * Mosquitto as the MQTT comparison runs it: in memory (its default), the
 * same window of unacknowledged messages per client as linebus's
 * --mqtt-inflight (100), a queue deep enough that a bench window never
 * makes it drop a QoS 1 message, Nagle off as linebus has it.
 */
function mosquittoConfig(dir, port) {
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 100\nmax_queued_messages 100000\nset_tcp_nodelay true\nlog_dest none\n`);
  return file;
}

/**
 * Starts `kind` ('linebus', 'linebus-mqtt', 'mosquitto', 'redis', 'nats',
 * 'relay'); returns { port, pid, rss(), stop() }. The port of
 * 'linebus-mqtt' is its MQTT listener's.
 */
export async function start(kind, extra = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `linebus-bench-${kind}-`));
  const commands = {
    'linebus-mqtt': [process.execPath, [join(root, 'bin/linebus'), 'serve', '--port', '0', '--mqtt-port', String(port), '--db', join(dir, 'bench.db'), '--log-level', 'error', ...extra]],
    // Its configuration is a file, written only when it is the one started.
    get mosquitto() {
      return ['mosquitto', ['-c', mosquittoConfig(dir, port), ...extra]];
    },
    linebus: [process.execPath, [join(root, 'bin/linebus'), 'serve', '--port', String(port), '--db', join(dir, 'bench.db'), '--max-connections', '20000', '--log-level', 'error', ...extra]],
    redis: ['redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxclients', '20000', ...extra]],
    nats: ['nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir, ...extra]],
    relay: [process.execPath, [join(root, 'bench/relay.js'), String(port)]],
  };
  const [command, args] = pinned(...commands[kind]);
  // Peers log every start at length; linebus logs only errors here.
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', kind.startsWith('linebus') ? 'inherit' : 'ignore'] });
  await waitForPort(port, child);
  return {
    port,
    pid: child.pid,
    dir,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    },
    /** CPU seconds the server has used, all its threads (utime + stime, at 100 ticks a second). */
    cpuSeconds() {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
