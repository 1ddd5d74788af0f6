/**
 * What the MQTT door keeps (MQTT.md, "Sessions", "Retained messages"):
 * kept sessions across disconnects and daemon restarts (session present,
 * what was in flight again with DUP and its identifier, then what was
 * journaled meanwhile, then live), listed and counted as cursors;
 * retained messages across restarts and retention; nothing acknowledged
 * lost to a kill -9 of `linebus serve`, nor to a journal that fails; no
 * will on the daemon's own shutdown; --max-connections shared with the
 * line listener.
 */
import t from 'tap';
import { unlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { quickHash } from './quick-hash.js';
import { Store } from '../src/store/store.js';
import { Wants } from '../src/store/wants.js';
import { serve } from './cli-helpers.js';
import { LineClient, startServer, tempDir } from './helpers.js';
import type { Started } from './helpers.js';
import { RawMqtt, brief } from './mqtt-raw.js';

const mqttPort = (started: Started): number => (started.server.mqttAddress() as { port: number }).port;

async function connected(port: number, fields: Record<string, unknown>): Promise<{ client: RawMqtt; connack: string }> {
  const { client, connack } = await RawMqtt.connect(port, fields);
  return { client, connack: brief(connack) };
}

t.test('kept sessions across disconnects and a restart; retained messages across restarts and retention', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  let started = await startServer(t, { db, mqtt: { port: 0 } });
  let line = await LineClient.login(started.port, 'ops');
  const send = async (...lines: string[]): Promise<void> => {
    line.write(...lines.map((text) => `send ${text}`));
    for (const reply of await line.lines(lines.length)) if (!reply?.startsWith('ok send')) throw new Error(`${reply}`);
  };

  // Kept (clean session 0), subscribed at QoS 1 and 2; it takes one message of each and acknowledges neither.
  let { client, connack } = await connected(mqttPort(started), { clientId: 'keeper', clean: false });
  t.equal(connack, 'connack 0', 'a new session: not present');
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'k/#', qos: 1 }, { topic: 'deep/+', qos: 2 }] });
  t.equal(brief(await client.next()), 'suback #1 1,2');
  await send('k.a first');
  const q2 = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(started)}`, { clientId: 'q2', reconnectPeriod: 0 });
  await q2.publishAsync('deep/x', 'second', { qos: 2 });
  await q2.endAsync();
  t.same([brief(await client.next()), brief(await client.next())], ['publish k/a first q1 #1', 'publish deep/x second q2 #2']);
  client.close();
  await client.closed;
  await send('k.b while away', 'k.c and this', 'elsewhere.z not its');

  ({ client, connack } = await connected(mqttPort(started), { clientId: 'keeper', clean: false }));
  t.equal(connack, 'connack 0 present');
  t.same([await client.next(), await client.next(), await client.next(), await client.next()].map(brief), ['publish k/a first q1 dup #1', 'publish deep/x second q2 dup #2', 'publish k/b while away q1 #3', 'publish k/c and this q1 #4'], 'what was in flight again, DUP set, same identifiers; then what came while it was away, in id order');
  client.send({ cmd: 'puback', messageId: 1 });
  client.send({ cmd: 'pubrec', messageId: 2 });
  t.equal(brief(await client.next()), 'pubrel #2');
  client.send({ cmd: 'puback', messageId: 3 });
  await send('k.d live');
  t.equal(brief(await client.next()), 'publish k/d live q1 #5', 'then live');
  const owner = await LineClient.login(started.port, 'keeper');
  owner.write('cursors');
  t.same(await owner.lines(2), ['cursor mqtt/keeper k.>,k,deep.* 6 0', 'ok cursors 1'], "a durable cursor of its user: its patterns, its position, its lag");
  owner.close();

  // Retained, and a restart with messages in flight (#4 and #5 unacknowledged, #2 awaiting PUBCOMP).
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(started)}`, { clientId: 'thermostat', reconnectPeriod: 0 });
  await publisher.publishAsync('house/setpoint', '21', { qos: 1, retain: true });
  await publisher.endAsync();
  client.close();
  // More kept sessions: one with the retained message in flight, one in a shared group,
  // one that misses more than its window holds, one that publishes at QoS 2 and unsubscribes.
  const retainer = await connected(mqttPort(started), { clientId: 'retainer', clean: false });
  retainer.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'house/setpoint', qos: 1 }] });
  t.same([await retainer.client.next(), await retainer.client.next()].map(brief), ['suback #1 1', 'publish house/setpoint 21 q1 retain #1']);
  retainer.client.close();
  const sharer = await connected(mqttPort(started), { clientId: 'sharer', clean: false });
  sharer.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/kg/kjobs/#', qos: 1 }] });
  t.equal(brief(await sharer.client.next()), 'suback #1 1');
  sharer.client.close();
  const bulk = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(started)}`, { clientId: 'bulk', clean: false, reconnectPeriod: 0 });
  await bulk.subscribeAsync('bulk/#', { qos: 1 });
  await bulk.endAsync();
  await send(...Array.from({ length: 1000 }, (_, i) => `bulk.n ${i}`));
  const writer = await connected(mqttPort(started), { clientId: 'writer', clean: false });
  writer.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'w/#', qos: 1 }] });
  t.equal(brief(await writer.client.next()), 'suback #1 1');
  writer.client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['w/#'] });
  t.equal(brief(await writer.client.next()), 'unsuback #2');
  writer.client.send({ cmd: 'publish', topic: 'house/light', payload: Buffer.from('on'), qos: 2, messageId: 3, retain: true, dup: false });
  t.equal(brief(await writer.client.next()), 'pubrec #3');
  writer.client.send({ cmd: 'pubrel', messageId: 3 });
  t.equal(brief(await writer.client.next()), 'pubcomp #3', 'a kept session: PUBCOMP once the release is committed');
  writer.client.close();
  const willed = await connected(mqttPort(started), { clientId: 'willed', will: { topic: 'wills/willed', payload: Buffer.from('down'), qos: 1, retain: false } });
  t.equal(willed.connack, 'connack 0');
  await started.server.stop();
  await willed.client.closed;
  // Small pages (a quarter of --max-pending): the catch-up below takes several, each waiting for the window.
  started = await startServer(t, { db, mqtt: { port: 0 }, maxCursors: 1, maxPending: 65536 });
  line = await LineClient.login(started.port, 'ops');

  ({ client, connack } = await connected(mqttPort(started), { clientId: 'keeper', clean: false }));
  t.equal(connack, 'connack 0 present', 'after a restart: present');
  t.same([await client.next(), await client.next(), await client.next()].map(brief), ['pubrel #2', 'publish k/c and this q1 dup #4', 'publish k/d live q1 dup #5'], 'PUBREL again for the QoS 2 message whose PUBREC came, the unacknowledged ones again, DUP set');
  client.send({ cmd: 'pubcomp', messageId: 2 });
  client.send({ cmd: 'puback', messageId: 4 });
  client.send({ cmd: 'puback', messageId: 5 });
  t.same(await client.sync(), []);
  const viewer = await connected(mqttPort(started), { clientId: 'viewer' });
  viewer.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'house/+', qos: 2 }, { topic: 'wills/#', qos: 0 }] });
  t.same([await viewer.client.next(), await viewer.client.next(), await viewer.client.next()].map(brief), ['suback #1 2,0', 'publish house/light on q2 retain #1', 'publish house/setpoint 21 q1 retain #2'], 'retained messages survived the restart, each at its QoS');
  const retained = await connected(mqttPort(started), { clientId: 'retainer', clean: false });
  t.same([retained.connack, brief(await retained.client.next())], ['connack 0 present', 'publish house/setpoint 21 q1 dup retain #1'], 'a retained message in flight: again, DUP and RETAIN set');
  const shared = await connected(mqttPort(started), { clientId: 'sharer', clean: false });
  t.equal(shared.connack, 'connack 0 present');
  await send('kjobs.a resize');
  t.equal(brief(await shared.client.next()), 'publish kjobs/a resize q1 #1', 'its shared subscription joined again');
  const bulkAgain = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(started)}`, { clientId: 'bulk', clean: false, reconnectPeriod: 0 });
  const bodies: string[] = [];
  await new Promise<void>((resolve) => bulkAgain.on('message', (_topic, payload) => bodies.push(payload.toString()) === 1000 && resolve()));
  t.same(bodies, Array.from({ length: 1000 }, (_, i) => String(i)), 'more than --mqtt-inflight and a page missed: all, in order, as the window lets them out');
  await bulkAgain.endAsync();
  const journal = Store.open(db, { readonly: true });
  t.same(journal.reader.pageMessages(new Wants([{ pattern: 'wills.>', after: 0 }]), 0, Number.MAX_SAFE_INTEGER).messages, [], 'the shutdown published no will');
  journal.close();

  // Retention takes every message but the newest: the retained one stays, and a kept session behind it is told so in the log.
  const behind = await connected(mqttPort(started), { clientId: 'behind', clean: false });
  behind.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'old/#', qos: 1 }] });
  t.equal(brief(await behind.client.next()), 'suback #1 1');
  behind.client.close();
  const line2 = await LineClient.login(started.port, 'ops');
  // Two commits, so two pages: retention takes whole pages.
  line2.write('send old.a 1');
  await line2.line();
  line2.write('send old.b 2');
  await line2.line();
  started.server.reconfigure({ retainMessages: 1 });
  t.ok((await started.server.runRetention()) > 0);
  const again = await connected(mqttPort(started), { clientId: 'viewer-2' });
  again.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'house/setpoint', qos: 0 }] });
  t.same([await again.client.next(), await again.client.next()].map(brief), ['suback #1 0', 'publish house/setpoint 21 q0 retain'], 'retention never removes a retained message');
  const resumed = await connected(mqttPort(started), { clientId: 'behind', clean: false });
  t.equal(resumed.connack, 'connack 0 present');
  t.equal(brief(await resumed.client.next()), 'publish old/b 2 q1 #1', 'what is left of what it missed');
  await started.waitForLog(/mqtt: retention deleted messages a kept session had not been sent .*"client":"behind"/);

  // Clean session 1 drops what was kept; --max-cursors counts kept sessions.
  const clean = await connected(mqttPort(started), { clientId: 'behind', clean: true });
  t.equal(clean.connack, 'connack 0', 'clean: nothing present');
  clean.client.close();
  const dropped = await connected(mqttPort(started), { clientId: 'behind', clean: false });
  t.equal(dropped.connack, 'connack 0', 'and nothing kept after it');
  line2.write('send old.c 3');
  await line2.line();
  t.same(await dropped.client.sync(), [], 'no subscription came back with it');
  const full = await connected(mqttPort(started), { clientId: 'second', username: 'behind', clean: false });
  t.equal(full.connack, 'connack 3', 'a second kept session of user behind: over --max-cursors 1');
  // A message in flight that retention deleted before a restart is dropped, and logged.
  const gone = await connected(mqttPort(started), { clientId: 'gone', clean: false });
  gone.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'g/#', qos: 1 }] });
  t.equal(brief(await gone.client.next()), 'suback #1 1');
  line2.write('send g.a soon gone');
  await line2.line();
  t.equal(brief(await gone.client.next()), 'publish g/a soon gone q1 #1');
  gone.client.close();
  line2.write('send g.b newest');
  await line2.line();
  await started.server.runRetention();
  await started.server.stop();
  started = await startServer(t, { db, mqtt: { port: 0 } });
  await started.waitForLog(/mqtt: a message in flight is gone .*"client":"gone","packet":1/);
  const back = await connected(mqttPort(started), { clientId: 'gone', clean: false });
  t.same([back.connack, brief(await back.client.next())], ['connack 0 present', 'publish g/b newest q1 #1'], 'it goes on after it');
  for (const c of [client, viewer.client, again.client, resumed.client, dropped.client, retained.client, shared.client, back.client]) c.close();
  line.close();
  line2.close();
});

t.test('kill -9 of linebus serve after PUBACK and PUBREC loses nothing', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const daemon = await serve(['--db', db, '--mqtt-port', '0']);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  const port = Number(/MQTT on [^\s]+:(\d+)/.exec(daemon.stderr())?.[1]);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'sensor', reconnectPeriod: 0 });
  const sent = Array.from({ length: 300 }, (_, i) => client.publishAsync(`crash/${i % 3}`, `reading ${i}`, { qos: i % 2 === 0 ? 1 : 2 }));
  await Promise.all(sent);
  daemon.child.kill('SIGKILL');
  await new Promise((resolve) => daemon.child.once('close', resolve));
  client.end(true);
  const store = Store.open(db, { readonly: true });
  const rows = store.reader.pageMessages(new Wants([{ pattern: 'crash.*', after: 0 }]), 0, Number.MAX_SAFE_INTEGER).messages;
  store.close();
  t.equal(rows.length, 300, 'every acknowledged message is in the journal');
  t.same(new Set(rows.map((row) => row.body)).size, 300, 'each once');
  t.equal(rows.filter((row) => row.qos === 2).length, 150, 'with its QoS');
});

t.test('a journal that fails: no PUBACK, the connection closes, the client sends again later', { timeout: 10000 }, async (t) => {
  const started = await startServer(t, { mqtt: { port: 0 } });
  const { client } = await connected(mqttPort(started), { clientId: 'unlucky', will: { topic: 'wills/unlucky', payload: Buffer.from('gone'), qos: 0, retain: false } });
  unlinkSync(started.db);
  client.send({ cmd: 'publish', topic: 'lost/x', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false });
  t.same((await client.rest()).map(brief), [], 'closed without PUBACK');
  await started.waitForLog(/mqtt connection closed: journal failed/);
  await started.waitForLog(/mqtt will could not be journaled .*"client":"unlucky"/);
});

t.test('--max-connections counts MQTT and line clients together; one over it is closed at once (it has sent no CONNECT to answer); a leaving MQTT client gives its seat back', { timeout: 10000 }, async (t) => {
  const started = await startServer(t, { mqtt: { port: 0 }, maxConnections: 2 });
  const line = await LineClient.login(started.port, 'ops');
  const first = await connected(mqttPort(started), { clientId: 'first' });
  t.equal(first.connack, 'connack 0', 'the second seat');
  const over = await RawMqtt.open(mqttPort(started));
  t.same(await over.rest(), [], 'an MQTT client over the limit, with a line client seated: closed');
  const lineOver = await LineClient.connect(started.port);
  t.same(await lineOver.rest(), ['err busy the server is full (2 connections); try again later'], 'a line client over the limit, with an MQTT client seated: refused');
  t.equal(started.logs.filter((entry) => entry.startsWith('warn connection refused: server full')).length, 2, 'both logged');
  first.client.close();
  await started.waitForLog(/^debug closed .*"user":"first"/);
  const next = await connected(mqttPort(started), { clientId: 'next' });
  t.equal(next.connack, 'connack 0', "the MQTT client's seat is free again");
  next.client.close();
  line.close();
});

t.test('users: CONNECT names a linebus user and password; open mode takes loopback only', { timeout: 10000 }, async (t) => {
  const outside = Object.values(networkInterfaces()).flat().find((address) => address?.family === 'IPv4' && !address.internal)?.address;
  const started = await startServer(t, { mqtt: { port: 0, host: '0.0.0.0' } });
  const port = mqttPort(started);
  const table: [string, Record<string, unknown>, string][] = [
    ['open mode: a client identifier that is no user name', { clientId: 'has space' }, 'connack 2'],
    ['open mode: a user name that is none', { clientId: 'c', username: 'has space' }, 'connack 4'],
    ['open mode: any name', { clientId: 'c', username: 'anyone', password: Buffer.from('x') }, 'connack 0'],
  ];
  for (const [what, fields, want] of table) t.equal((await connected(port, fields)).connack, want, what);
  if (outside === undefined) t.comment('no address but loopback on this machine: open mode from elsewhere not tried');
  else {
    const { client, connack } = await RawMqtt.connect(port, { clientId: 'far' }, outside);
    t.equal(brief(connack), 'connack 5', `open mode, from ${outside}: not authorized`);
    client.close();
  }
  started.server.store.users.put('alice', quickHash('s3cret'));
  const users: [string, Record<string, unknown>, string][] = [
    ['a user and her password', { clientId: 'a1', username: 'alice', password: Buffer.from('s3cret') }, 'connack 0'],
    ['a wrong password', { clientId: 'a2', username: 'alice', password: Buffer.from('guess') }, 'connack 4'],
    ['no user name', { clientId: 'a3' }, 'connack 5'],
  ];
  for (const [what, fields, want] of users) t.equal((await connected(port, fields)).connack, want, what);
  await started.waitForLog(/login failed/);
});
