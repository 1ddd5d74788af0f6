/**
 * Open mode refuses clients that are not on loopback. The daemon and the
 * client run in two network namespaces this test makes, joined by a veth
 * pair on TEST-NET-1 (192.0.2.0/24, reserved for documentation), so no
 * traffic leaves the test's own hosts.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN, finish, run } from './cli-helpers.js';
import { tempDir } from './helpers.js';

const suffix = `${process.pid}`;
const SERVER_NS = `lb-srv-${suffix}`;
const CLIENT_NS = `lb-cli-${suffix}`;
const SERVER_IP = '192.0.2.1';
const CLIENT_IP = '192.0.2.2';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
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
    return `cannot make network namespaces here (needs root and iproute2): ${(error as Error).message.split('\n')[0]}`;
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

/** Runs a small line client inside the client namespace. */
async function talk(port: number, lines: string[], replies: number): Promise<string[]> {
  const script = `
    const s = require('node:net').connect(${port}, '${SERVER_IP}');
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { got += d; if (got.split('\\n').length > ${replies}) { process.stdout.write(got); s.destroy(); } });
    s.on('close', () => process.exit(0));
    s.write(${JSON.stringify(lines.map((l) => `${l}\n`).join(''))});
    setTimeout(() => { process.stdout.write(got); process.exit(1); }, 5000);
  `;
  const result = await finish(spawn('ip', ['netns', 'exec', CLIENT_NS, process.execPath, '-e', script]));
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
  const child = spawn('ip', ['netns', 'exec', SERVER_NS, process.execPath, BIN, 'serve', '--host', SERVER_IP, '--port', '7667', '--db', db]);
  const exited = finish(child);
  t.teardown(() => {
    child.kill('SIGTERM');
    return exited;
  });
  await new Promise<void>((resolve) => {
    let seen = '';
    child.stderr.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('listening on')) resolve();
    });
  });

  const refused = await talk(7667, ['login alice anything'], 2);
  t.equal(refused[1], "err auth no users are set up, so only loopback clients may log in; the operator must run 'linebus user add <name>'");

  t.equal((await run(['user', 'add', 'alice', '--db', db], 'pw\n')).code, 0);
  const accepted = await talk(7667, ['login alice pw', 'ping from afar'], 3);
  t.same(accepted.slice(1), ['ok login alice', 'pong from afar']);
});
