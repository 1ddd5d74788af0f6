/**
 * Open mode refuses clients that are not on loopback; a daemon that serves
 * plain TCP on loopback and TLS outside is reached from elsewhere only over
 * TLS, with a login, and the access file's rules hold there. The daemon and the
 * client run in two network namespaces this test makes, joined by a veth
 * pair on TEST-NET-1 (192.0.2.0/24, reserved for documentation), so no
 * traffic leaves the test's own hosts.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ENV, finish, NO_LOADER, nodeCommand, run } from './cli-helpers.js';
import { tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';
import { makeCerts } from './certs.js';
import { tool } from './tools.js';

const suffix = `${process.pid}`;
const SERVER_NS = `lb-srv-${suffix}`;
const CLIENT_NS = `lb-cli-${suffix}`;
const SERVER_IP = '192.0.2.1';
const CLIENT_IP = '192.0.2.2';
const IP = tool('ip');

function ip(...args: string[]): void {
  execFileSync(IP, args, { stdio: 'pipe' });
}

function makeHosts(): string | undefined {
  try {
    ip('netns', 'add', SERVER_NS);
    ip('netns', 'add', CLIENT_NS);
    ip('link', 'add', `lbs${suffix}`, 'netns', SERVER_NS, 'type', 'veth', 'peer', 'name', `lbc${suffix}`, 'netns', CLIENT_NS);
    ip('-n', SERVER_NS, 'addr', 'add', `${SERVER_IP}/24`, 'dev', `lbs${suffix}`);
    ip('-n', CLIENT_NS, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', `lbc${suffix}`);
    for (const [ns, dev] of [[SERVER_NS, `lbs${suffix}`], [CLIENT_NS, `lbc${suffix}`]] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    return undefined;
  } catch (error) {
    return `cannot make network namespaces here (needs root): ${(error as Error).message.split('\n')[0]}`;
  }
}

function removeHosts(): void {
  for (const ns of [SERVER_NS, CLIENT_NS]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // Not made, or already gone.
    }
  }
}

/**
 * Starts `linebus serve args...` in the server namespace; stopped with
 * SIGTERM at teardown. Resolves once it listens, to a wait for its log.
 */
async function serveInNamespace(t: Teardown, args: string[]): Promise<(pattern: RegExp) => Promise<void>> {
  const child = spawn(IP, ['netns', 'exec', SERVER_NS, ...nodeCommand(), BIN, 'serve', ...args]);
  const exited = finish(child);
  t.teardown(() => {
    child.kill('SIGTERM');
    return exited;
  });
  let seen = '';
  child.stderr.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  const logged = (pattern: RegExp): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!pattern.test(seen)) return;
        child.stderr.off('data', check);
        resolve();
      };
      child.stderr.on('data', check);
      check();
    });
  await logged(/listening on/);
  return logged;
}

/** Runs a small line client inside the client namespace; over TLS when given the CA to trust. */
async function talk(port: number, lines: string[], replies: number, ca?: string): Promise<string[]> {
  const connect = ca === undefined ? `require('node:net').connect(${port}, '${SERVER_IP}')` : `require('node:tls').connect({ host: '${SERVER_IP}', port: ${port}, ca: require('node:fs').readFileSync(${JSON.stringify(ca)}) })`;
  const script = `
    const s = ${connect};
    s.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(1); });
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { got += d; if (got.split('\\n').length > ${replies}) { process.stdout.write(got); s.destroy(); } });
    s.on('close', () => process.exit(0));
    s.write(${JSON.stringify(lines.map((l) => `${l}\n`).join(''))});
    setTimeout(() => { process.stdout.write(got); process.exit(1); }, 5000);
  `;
  const result = await finish(spawn(IP, ['netns', 'exec', CLIENT_NS, ENV, ...NO_LOADER, process.execPath, '-e', script]));
  return result.stdout.split('\n').filter((line) => line !== '');
}

t.test('open mode: a non-loopback client is refused with a hint, a real user is not', { timeout: 30000 }, async (t) => {
  const problem = makeHosts();
  t.teardown(removeHosts);
  if (problem) {
    t.plan(0, problem);
    return;
  }
  const db = join(tempDir(t), 'bus.db');
  await serveInNamespace(t, ['--host', SERVER_IP, '--port', '7667', '--db', db]);

  const refused = await talk(7667, ['login alice anything'], 2);
  t.equal(refused[1], "err auth no users are set up, so only loopback clients may log in; the operator must run 'linebus user add <name>'");

  t.equal((await run(['user', 'add', 'alice', '--db', db], 'pw\n')).code, 0);
  const accepted = await talk(7667, ['login alice pw', 'ping from afar'], 3);
  t.same(accepted.slice(1), ['ok login alice', 'pong from afar']);
});

t.test('from another host: only TLS, only with a login, only the topics the rules allow', { timeout: 60000 }, async (t) => {
  const problem = makeHosts();
  t.teardown(removeHosts);
  if (problem) {
    t.plan(0, problem);
    return;
  }
  const dir = tempDir(t);
  const certs = makeCerts(dir, SERVER_IP);
  const db = join(dir, 'bus.db');
  const acl = join(dir, 'acl');
  writeFileSync(acl, 'user alice\ntopic read orders.>\nuser bob\ntopic write >\n');
  for (const user of ['alice', 'bob']) t.equal((await run(['user', 'add', user, '--db', db], 'pw\n')).code, 0);
  await serveInNamespace(t, ['--port', '7667', '--db', db, '--tls-host', SERVER_IP, '--tls-port', '7669', '--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--acl', acl]);
  t.same(await talk(7667, ['login alice pw'], 1), ['error ECONNREFUSED'], 'plain TCP listens on loopback only');
  t.same(await talk(7669, ['send orders.eu x'], 2, certs.ca), ['hello linebus 1.0.0', 'err auth log in first: login <user> <password>']);
  t.same(await talk(7669, ['login bob pw', 'send secrets.x hush', 'send orders.eu paid'], 4, certs.ca), ['hello linebus 1.0.0', 'ok login bob', 'ok send 1', 'ok send 2']);
  t.same(await talk(7669, ['login alice pw', 'send orders.eu x', 'recv > since 0'], 5, certs.ca), [
    'hello linebus 1.0.0',
    'ok login alice',
    "err denied you may not send to orders.eu (the access file's rules); ask the operator",
    'ok recv >',
    'msg orders.eu 2 bob paid',
  ]);
});

t.test('a receiver whose process dies is found and closed: the half-closed socket is probed', { timeout: 30000 }, async (t) => {
  const problem = makeHosts();
  t.teardown(removeHosts);
  if (problem) {
    t.plan(0, problem);
    return;
  }
  // The client's host forgets a closed socket after 1 s instead of 60 s
  // (net.ipv4.tcp_fin_timeout, one per namespace): after that it answers
  // the daemon's keepalive probe with a reset.
  execFileSync(IP, ['netns', 'exec', CLIENT_NS, 'sysctl', '-q', '-w', 'net.ipv4.tcp_fin_timeout=1']);
  const db = join(tempDir(t), 'bus.db');
  t.equal((await run(['user', 'add', 'watcher', '--db', db], 'pw\n')).code, 0);
  const logged = await serveInNamespace(t, ['--host', SERVER_IP, '--port', '7667', '--db', db, '--log-level', 'debug']);
  const script = `
    const s = require('node:net').connect(7667, '${SERVER_IP}');
    s.setEncoding('utf8');
    s.write('login watcher pw\\nrecv quiet.topic\\n');
    s.on('data', (d) => { if (d.includes('ok recv')) process.stdout.write('ready\\n'); });
  `;
  const client = spawn(IP, ['netns', 'exec', CLIENT_NS, ENV, ...NO_LOADER, process.execPath, '-e', script]);
  t.teardown(() => client.kill('SIGKILL'));
  await new Promise<void>((resolve) => client.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve()));
  client.kill('SIGKILL');
  await logged(/debug closed .*user=watcher .*reason="?socket error E(PIPE|CONNRESET)/);
  t.pass('the dead receiver was closed, with the socket error that found it');
});
