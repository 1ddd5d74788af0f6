/**
 * The NATS cluster fixture (nats-cluster.ts) on its own: three real
 * nats-server nodes, a stream with three replicas, its leader SIGKILLed and
 * started again, and nothing left running after stop().
 */
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'nats';
import type { JetStreamClient, NatsConnection, PubAck } from 'nats';
import { startNatsCluster } from './nats-cluster.js';
import type { NatsCluster } from './nats-cluster.js';

/** Pids of the processes whose command line mentions `text` (the config files are in the test's dir). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/**
 * Publishes until the stream acknowledges, for at most `ms`: with its leader
 * gone, the stream answers nothing (a timeout) or the request finds no
 * responders (503) until the survivors elect a new one. The msgID makes a
 * retry of a publish that was stored after all a duplicate, not a second message.
 */
async function publishRetrying(js: JetStreamClient, subject: string, msgID: string, ms: number): Promise<PubAck> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await js.publish(subject, new TextEncoder().encode(msgID), { msgID, timeout: 1_000 });
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      if ((error as { code?: string }).code === '503') await delay(50);
    }
  }
}

t.test('three nodes: an R3 stream takes messages with its leader SIGKILLed and started again', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'linebus-nats-'));
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  t.teardown(async () => {
    await nc?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let began = Date.now();
  cluster = await startNatsCluster(dir);
  t.comment(`3 nodes ready in ${Date.now() - began} ms`);
  const { nodes } = cluster;
  t.same(nodes.map((node) => node.name), ['n1', 'n2', 'n3']);
  t.equal(cluster.urls, nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(','));
  t.ok(nodes.every((node) => node.running && node.url === `nats://127.0.0.1:${node.port}`));
  t.equal(processesMentioning(dir).length, 3, 'one process per node');

  nc = await connect({ servers: cluster.urls.split(','), reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  const jsm = await nc.jetstreamManager();
  const created = await jsm.streams.add({ name: 'T', subjects: ['t.>'], num_replicas: 3 });
  t.equal(created.config.num_replicas, 3);
  const js = nc.jetstream();
  const acks: PubAck[] = [];
  for (const id of ['m1', 'm2', 'm3']) acks.push(await publishRetrying(js, `t.${id}`, id, 10_000));
  t.same(
    acks.map((ack) => [ack.stream, ack.seq, ack.duplicate]),
    [
      ['T', 1, false],
      ['T', 2, false],
      ['T', 3, false],
    ],
  );

  const leaderName = (await jsm.streams.info('T')).cluster?.leader;
  const victim = nodes.find((node) => node.name === leaderName);
  if (!victim) throw new Error(`stream T has no leader among the nodes: ${leaderName}`);
  const server = nc.getServer();
  t.comment(`stream leader ${victim.name}; client on ${nodes.find((node) => server.endsWith(`:${node.port}`))?.name ?? server}`);
  await victim.kill();
  t.notOk(victim.running, 'killed');
  t.ok(await refused(victim.port), 'its client port is closed');
  began = Date.now();
  const fourth = await publishRetrying(js, 't.m4', 'm4', 20_000);
  t.comment(`publish acknowledged ${Date.now() - began} ms after the stream leader was killed`);
  t.equal(fourth.seq, 4);
  t.not((await jsm.streams.info('T')).cluster?.leader, victim.name, 'a new stream leader');

  began = Date.now();
  await victim.start();
  t.comment(`${victim.name} healthy again ${Date.now() - began} ms after start()`);
  t.ok(victim.running);
  t.equal(processesMentioning(dir).length, 3);
  t.equal((await publishRetrying(js, 't.m5', 'm5', 10_000)).seq, 5);
  await t.rejects(victim.start(), { message: `nats-server ${victim.name} is running already` });

  await nc.close();
  began = Date.now();
  await cluster.stop();
  t.comment(`stopped in ${Date.now() - began} ms`);
  t.ok(nodes.every((node) => !node.running), 'no node running');
  t.same(processesMentioning(dir), [], 'no nats-server process left');
  for (const node of nodes) t.ok(await refused(node.port), `${node.name}'s client port is closed`);
  await cluster.stop();
});
