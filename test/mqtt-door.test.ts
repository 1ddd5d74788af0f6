/**
 * The MQTT door against one real daemon (open mode, an access file) over
 * real TCP and a real SQLite file, with packets written exactly (RawMqtt)
 * and MQTT.js: QoS 0, 1 and 2 acknowledged once committed, QoS 2 exactly
 * once across a repeated PUBLISH, access rules (SUBACK 0x80, denied
 * publishes acknowledged and dropped, deliveries filtered), `$` topics,
 * shared subscriptions with line-protocol members, retained messages,
 * takeover, zero-length client identifiers, wills on every unclean end,
 * and bad input of every kind closing only its own connection.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { generate, parser } from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { Acl } from '../src/bus/acl.js';
import { Store } from '../src/store/store.js';
import { Wants } from '../src/store/wants.js';
import { LineClient, startServer, stat } from './helpers.js';
import { RawMqtt, brief } from './mqtt-raw.js';

const RULES = `user alice
topic readwrite sensors.>
topic read alerts.>
user ops
topic readwrite >
pattern readwrite open.%u.>
`;

t.test('the MQTT door', { timeout: 60000 }, async (t) => {
  // Small limits where a test needs to reach them; the rest stays far below.
  const started = await startServer(t, { acl: Acl.parse(RULES), mqtt: { port: 0 }, http: { port: 0 }, maxPending: 65536, maxInput: 1024, maxSubscriptions: 3, loginTimeout: 1 });
  const { server, db, logs, waitForLog } = started;
  const port = (server.mqttAddress() as { port: number }).port;
  const stats = (name: string): number => stat(server.stats(), name) || 0;
  const journal = Store.open(db, { readonly: true });
  t.teardown(() => journal.close());
  /** What another connection of the database sees: committed rows only. */
  const committed = (topic: string): string[] =>
    journal.reader.pageMessages(new Wants([{ pattern: topic, after: 0 }]), 0, Number.MAX_SAFE_INTEGER).messages.map((row) => `${row.topic} ${row.sender} ${row.body}${row.qos === undefined ? '' : ` q${row.qos}`}`);
  const raw = async (clientId: string, fields: Record<string, unknown> = {}): Promise<RawMqtt> => {
    const { client, connack } = await RawMqtt.connect(port, { clientId, username: 'ops', ...fields });
    if (brief(connack) !== 'connack 0') throw new Error(`${clientId}: ${brief(connack)}`);
    t.teardown(() => client.close());
    return client;
  };

  // Keep-alive expiry and --login-timeout take their seconds: they run while the rest does.
  const silent = await raw('silent', { keepalive: 1, will: { topic: 'wills/silent', payload: Buffer.from('gone quiet'), qos: 1, retain: false } });
  const silentEnd = silent.closed;
  const mute = await RawMqtt.open(port);
  const muteEnd = mute.rest();

  t.test('QoS 0, 1 and 2: acknowledged once the message is committed', async (t) => {
    const line = await LineClient.login(started.port, 'ops');
    line.write('recv qos.>');
    t.equal(await line.line(), 'ok recv qos.>');
    const client = await raw('qos');
    client.send({ cmd: 'publish', topic: 'qos/one', payload: Buffer.from('one'), qos: 1, messageId: 1, dup: false, retain: false });
    t.equal(brief(await client.next()), 'puback #1');
    t.same(committed('qos.one'), ['qos.one ops one'], 'committed when PUBACK came: another connection of the database sees it');
    client.send({ cmd: 'publish', topic: 'qos/two', payload: Buffer.from('two'), qos: 2, messageId: 2, dup: false, retain: false });
    t.equal(brief(await client.next()), 'pubrec #2');
    t.same(committed('qos.two'), ['qos.two ops two q2'], 'committed when PUBREC came, its QoS with it');
    client.send({ cmd: 'publish', topic: 'qos/zero', payload: Buffer.from(''), qos: 0, dup: false, retain: false });
    await client.sync();
    t.same(committed('qos.zero'), ['qos.zero ops  q0'], 'QoS 0 too, with an empty body');
    t.match(await line.lines(3), [/^msg qos\.one \d+ ops one$/, /^msg qos\.two \d+ ops two$/, /^msg qos\.zero \d+ ops $/]);
    client.send({ cmd: 'pubrel', messageId: 2 });
    t.equal(brief(await client.next()), 'pubcomp #2');
    line.close();
  });

  t.test('QoS 2 exactly once: a PUBLISH sent again before PUBREL is answered, not journaled', async (t) => {
    const client = await raw('twice');
    const publish = (dup: boolean): void => client.send({ cmd: 'publish', topic: 'once/x', payload: Buffer.from('hello'), qos: 2, messageId: 7, dup, retain: false });
    publish(false);
    publish(true);
    publish(true);
    t.same([brief(await client.next()), brief(await client.next()), brief(await client.next())], ['pubrec #7', 'pubrec #7', 'pubrec #7']);
    client.send({ cmd: 'pubrel', messageId: 7 });
    t.equal(brief(await client.next()), 'pubcomp #7');
    client.send({ cmd: 'pubrel', messageId: 7 });
    t.equal(brief(await client.next()), 'pubcomp #7', 'a PUBREL again (its PUBCOMP lost) gets PUBCOMP again');
    publish(false);
    t.equal(brief(await client.next()), 'pubrec #7', 'released, the identifier is a new message');
    t.same(committed('once.x'), ['once.x ops hello q2', 'once.x ops hello q2']);
  });

  t.test('access: SUBACK 0x80 for a denied filter, denied publishes acknowledged and dropped, deliveries filtered', async (t) => {
    const alice = await raw('alice-1', { username: 'alice' });
    alice.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }, { topic: 'secret/#', qos: 1 }, { topic: '+/temp', qos: 0 }] });
    t.equal(brief(await alice.next()), 'suback #1 1,128,0', 'the others in the packet are granted');
    const deniedBefore = stats('mqtt_publishes_denied');
    alice.send({ cmd: 'publish', topic: 'secret/plans', payload: Buffer.from('x'), qos: 1, messageId: 2, dup: false, retain: false });
    alice.send({ cmd: 'publish', topic: '$SYS/x', payload: Buffer.from('x'), qos: 2, messageId: 3, dup: false, retain: false });
    alice.send({ cmd: 'publish', topic: 'sensors/temp', payload: Buffer.from('20'), qos: 1, messageId: 4, dup: false, retain: false });
    const answers = [brief(await alice.next()), brief(await alice.next()), brief(await alice.next()), brief(await alice.next())];
    t.same(answers, ['puback #2', 'pubrec #3', 'puback #4', 'publish sensors/temp 20 q1 #1'], 'acknowledged in order; her own message comes back to her (MQTT has no no-echo)');
    t.same(committed('secret.plans'), [], 'denied: nothing journaled');
    t.equal(stats('mqtt_publishes_denied'), deniedBefore + 2, 'counted');
    t.ok(logs.some((line) => /mqtt publish denied .*"topic":"secret\.plans"/.test(line)), 'logged');
    const ops = await LineClient.login(started.port, 'ops');
    ops.write('send other.temp 5', 'send alerts.temp 6');
    t.match(await ops.lines(2), [/^ok send/, /^ok send/]);
    t.same((await alice.sync()).map(brief), ['publish alerts/temp 6 q0'], '+/temp delivers only what she may read');
    ops.close();
  });

  t.test('$ topics: a first-level wildcard does not match them, a filter naming them does', async (t) => {
    const all = await raw('all');
    const replies = await raw('replies');
    all.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] });
    replies.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$reply/#', qos: 0 }] });
    t.equal(brief(await all.next()), 'suback #1 0');
    t.equal(brief(await replies.next()), 'suback #1 0');
    const bot = await LineClient.login(started.port, 'ops');
    const asker = await LineClient.login(started.port, 'ops');
    bot.write('recv svc.>');
    t.equal(await bot.line(), 'ok recv svc.>');
    asker.write('request svc.time now?');
    const asked = (await bot.line()) as string;
    const id = asked.split(' ')[2];
    bot.write(`reply ${id} noon`);
    t.equal(await bot.line(), `ok reply ${id}`);
    t.equal(await asker.line(), `ok request ${id} ops noon`);
    t.same((await replies.sync()).map(brief), [`publish $reply/${id} noon q0`]);
    t.same((await all.sync()).map(brief), [`publish svc/time now? q0`], '# got the request, not its $reply');
    all.close();
    replies.close();
    bot.close();
    asker.close();
  });

  t.test('$share: a queue group shared with take members', async (t) => {
    const line = await LineClient.login(started.port, 'ops');
    line.write('take work.> as crew max 1');
    t.equal(await line.line(), 'ok take work.> as crew');
    const member = await raw('crew-1');
    member.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/crew/work/#', qos: 1 }] });
    t.equal(brief(await member.next()), 'suback #1 1');
    const sender = await LineClient.login(started.port, 'ops');
    sender.write('send work.a 1', 'send work.b 2', 'send work.c 3');
    t.match(await sender.lines(3), [/^ok send/, /^ok send/, /^ok send/]);
    const job = (await line.line()) as string;
    t.match(job, /^job work\.. \d+ ops \d$/, 'the line member holds one (max 1)');
    const mine = [await member.next(), await member.next()].map(brief);
    t.match(mine, [/^publish work\/. \d q1 #1$/, /^publish work\/. \d q1 #2$/], 'the MQTT member the others');
    t.same([...mine.map((p) => p.split(' ')[2]), job.split(' ')[4]].sort(), ['1', '2', '3'], 'every job to one member, once');
    // It acks one and leaves with the other, which goes back to the group and to the line member.
    member.send({ cmd: 'puback', messageId: 1 });
    line.write(`ack ${job.split(' ')[2]}`);
    t.equal(await line.line(), `ok ack ${job.split(' ')[2]}`);
    member.close();
    const again = (await line.line()) as string;
    t.equal(again.split(' ')[4], (mine[1] as string).split(' ')[2], 'the job it left with is handed out again');
    line.write(`ack ${again.split(' ')[2]}`, 'pending crew');
    t.same(await line.lines(2), [`ok ack ${again.split(' ')[2]}`, 'ok pending crew 0'], 'nothing else: its PUBACK acked the first');
    line.close();
    sender.close();
  });

  t.test('retained: kept by topic, sent first to new subscriptions with RETAIN set, cleared by an empty one', async (t) => {
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'lamp', username: 'ops', reconnectPeriod: 0 });
    await publisher.publishAsync('state/lamp', 'on', { qos: 1, retain: true });
    await publisher.publishAsync('state/door', 'shut', { qos: 0, retain: true });
    await publisher.publishAsync('state/fan', 'off', { qos: 1, retain: true });
    await publisher.publishAsync('state/fan', '', { qos: 1, retain: true });
    const viewer = await raw('viewer');
    viewer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'state/#', qos: 1 }] });
    t.same([brief(await viewer.next()), brief(await viewer.next()), brief(await viewer.next())], ['suback #1 1', 'publish state/door shut q0 retain', 'publish state/lamp on q1 retain #1'], 'in topic order, each at the lesser QoS; the fan was cleared');
    viewer.send({ cmd: 'puback', messageId: 1 });
    await publisher.publishAsync('state/lamp', 'off', { qos: 1, retain: true });
    t.equal(brief(await viewer.next()), 'publish state/lamp off q1 #2', 'live: RETAIN 0');
    viewer.send({ cmd: 'puback', messageId: 2 });
    viewer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'state/lamp', qos: 0 }] });
    t.same([brief(await viewer.next()), brief(await viewer.next())], ['suback #3 0', 'publish state/lamp off q0 retain'], 'a repeated SUBSCRIBE gets them again');
    t.same(committed('state.fan'), ['state.fan ops off', 'state.fan ops '], 'every retained PUBLISH is journaled, the empty one too');
    await publisher.endAsync();
  });

  t.test('takeover, and zero-length client identifiers', async (t) => {
    const first = await raw('same', { will: { topic: 'wills/same', payload: Buffer.from('taken over'), qos: 0, retain: false } });
    const watcher = await raw('will-watcher');
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/same', qos: 0 }] });
    t.equal(brief(await watcher.next()), 'suback #1 0');
    await raw('same');
    await first.closed;
    t.same((await watcher.sync()).map(brief), ['publish wills/same taken over q0'], 'the first connection closed, its will published');
    const { client, connack } = await RawMqtt.connect(port, { clientId: '', clean: true });
    t.equal(brief(connack), 'connack 0', 'clean session: the server makes one');
    client.send({ cmd: 'publish', topic: 'anon/x', payload: Buffer.from('who'), qos: 1, messageId: 1, dup: false, retain: false });
    t.equal(brief(await client.next()), 'puback #1');
    t.ok(logs.some((line) => /mqtt publish denied .*"client":"linebus-[0-9a-f]{16}","user":"linebus-[0-9a-f]{16}"/.test(line)), 'known by the identifier made for it (open mode: its user), which the access file gives nothing');
    client.close();
    // Written by hand: mqtt-packet will not make these.
    const keptEmpty = Buffer.from([0x10, 12, 0, 4, ...Buffer.from('MQTT'), 4, 0x00, 0, 0, 0, 0]);
    const emptyAt31 = Buffer.from([0x10, 14, 0, 6, ...Buffer.from('MQIsdp'), 3, 0x02, 0, 0, 0, 0]);
    for (const [what, connect, level] of [['clean session 0', keptEmpty, 4], ['MQTT 3.1', emptyAt31, 3]] as const) {
      const refused = await RawMqtt.open(port, level);
      refused.send(connect);
      t.same((await refused.rest()).map(brief), ['connack 2'], `an empty identifier with ${what}: identifier rejected, closed`);
    }
  });

  t.test('wills: on a network error, a refusal, a cut for slowness; not after DISCONNECT', async (t) => {
    const watcher = await raw('wills');
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] });
    t.equal(brief(await watcher.next()), 'suback #1 0');
    const will = (name: string): Record<string, unknown> => ({ will: { topic: `wills/${name}`, payload: Buffer.from(`${name} gone`), qos: 0, retain: name === 'dropped' } });
    (await raw('dropped', will('dropped'))).socket.destroy();
    const refused = await raw('refused', will('refused'));
    refused.send({ cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, dup: false, retain: false });
    await refused.closed;
    const polite = await raw('polite', will('polite'));
    polite.send({ cmd: 'disconnect' });
    await polite.closed;
    const slow = await raw('slow', will('slow'));
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] });
    t.equal(brief(await slow.next()), 'suback #1 1');
    slow.socket.pause();
    const line = await LineClient.login(started.port, 'ops');
    // 100 in flight unacknowledged, then the rest wait in its window, past --max-pending (64 KB): cut off.
    const body = 'x'.repeat(500);
    for (let i = 0; i < 300; i++) line.write(`send flood.x ${body}`);
    await line.lines(300);
    await waitForLog(/slow consumer cut off .*"user":"ops"/);
    const seen = new Set<string>();
    while (seen.size < 3) for (const packet of await watcher.sync()) seen.add(brief(packet));
    t.same([...seen].sort(), ['publish wills/dropped dropped gone q0', 'publish wills/refused refused gone q0', 'publish wills/slow slow gone q0']);
    const late = await raw('late');
    late.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/dropped', qos: 0 }] });
    t.same([brief(await late.next()), brief(await late.next())], ['suback #1 0', 'publish wills/dropped dropped gone q0 retain'], 'a will with RETAIN is retained');
    line.close();
  });

  t.test('bad input of every kind closes that connection alone: logged, counted, nothing journaled', async (t) => {
    const bystander = await raw('bystander');
    bystander.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'calm/#', qos: 1 }] });
    t.equal(brief(await bystander.next()), 'suback #1 1');
    const line = await LineClient.login(started.port, 'ops');
    line.write('recv calm.>');
    t.equal(await line.line(), 'ok recv calm.>');
    const connect = Buffer.from([0x10, 0x0e, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 2, 0x62, 0x31]);
    const publish = (topic: Buffer, payload: Buffer, flags = 0): Buffer => {
      const header = [0x30 | flags];
      for (let length = 2 + topic.length + payload.length; ; length >>= 7) {
        header.push(length > 0x7f ? (length & 0x7f) | 0x80 : length);
        if (length <= 0x7f) break;
      }
      return Buffer.concat([Buffer.from([...header, topic.length >> 8, topic.length & 0xff]), topic, payload]);
    };
    const cases: [string, Buffer[], string][] = [
      ['a reserved packet type', [connect, Buffer.from([0x00, 0x00])], 'malformed'],
      ['a 200 MB declared length', [connect, Buffer.from([0x30, 0x80, 0x80, 0xb0, 0x5f])], 'too-large'],
      ['a payload with a newline', [connect, publish(Buffer.from('calm/x'), Buffer.from('two\nlines'))], 'payload-newline'],
      ['a payload that is not UTF-8', [connect, publish(Buffer.from('calm/x'), Buffer.from([0xc3, 0x28]))], 'payload-not-utf8'],
      ['a payload with NUL', [connect, publish(Buffer.from('calm/x'), Buffer.from([0x61, 0x00]))], 'payload-nul'],
      ['a payload over --max-line', [connect, publish(Buffer.from('calm/x'), Buffer.alloc(65537, 0x61))], 'payload-too-long'],
      ['a wildcard in a topic name', [connect, publish(Buffer.from('calm/#'), Buffer.from('x'))], 'topic-wildcard'],
      ['a topic name that is not UTF-8', [connect, publish(Buffer.from([0x63, 0xff]), Buffer.from('x'))], 'not-utf8'],
      ['a topic over 255 bytes mapped', [connect, publish(Buffer.from('calm/'.padEnd(200, '.')), Buffer.from('x'))], 'topic-too-long'],
      ['packet identifier 0', [connect, publish(Buffer.from('calm/x'), Buffer.from([0, 0, 0x61]), 2)], 'packet-id-zero'],
      ['a first packet that is not CONNECT', [Buffer.from([0xc0, 0x00])], 'first-not-connect'],
      ['a second CONNECT', [connect, connect], 'second-connect'],
      ['SUBSCRIBE with reserved flags', [connect, Buffer.from([0x80, 0x08, 0, 1, 0, 3, 0x61, 0x2f, 0x62, 0])], 'reserved-flags'],
      ['protocol level 5', [Buffer.from([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 2, 0, 0, 0, 0, 0])], 'protocol-version'],
    ];
    for (const [what, chunks, reason] of cases) {
      const before = stats(`mqtt_refused.${reason}`);
      const client = await RawMqtt.open(port);
      for (const chunk of chunks) client.send(chunk);
      const answers = (await client.rest()).map(brief).filter((answer) => answer !== 'connack 0');
      t.same(answers, reason === 'protocol-version' ? ['connack 1'] : [], `${what}: closed${reason === 'protocol-version' ? ' after CONNACK 1' : ''}`);
      t.equal(stats(`mqtt_refused.${reason}`), before + 1, `${what}: counted as ${reason}`);
      t.ok(logs.some((entry) => entry.includes(`mqtt refused ${reason}`)), `${what}: logged`);
    }
    t.same(committed('calm.x'), [], 'nothing journaled');
    const sender = await LineClient.login(started.port, 'ops');
    sender.write('send calm.after all well');
    t.match(await sender.line(), /^ok send \d+$/);
    t.match(await line.line(), /^msg calm\.after \d+ ops all well$/, 'the line client noticed nothing');
    sender.close();
    t.same((await bystander.sync()).map(brief), ['publish calm/after all well q1 #1'], 'nor the MQTT one');
    line.close();
  });

  t.test('keep-alive: a client silent for 1.5 times it is closed, and its will published', async (t) => {
    await silentEnd;
    await waitForLog(/mqtt will published .*"client":"silent".*"topic":"wills\.silent"/);
    t.ok(logs.some((line) => /mqtt keep-alive expired .*"client":"silent"/.test(line)));
  });

  t.test('what a client must not be sent, or must not answer', async (t) => {
    const names = await raw('names');
    names.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'names/#', qos: 0 }] });
    t.equal(brief(await names.next()), 'suback #1 0');
    const unmapped = stats('mqtt_unmapped');
    const line = await LineClient.login(started.port, 'ops');
    line.write('send names.a/b no MQTT name', 'send names.ok fine');
    await line.lines(2);
    t.same((await names.sync()).map(brief), ['publish names/ok fine q0'], 'a topic no MQTT name maps to is not sent under another');
    t.equal(stats('mqtt_unmapped'), unmapped + 1, 'counted');
    const flow = await raw('flow');
    flow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flow/#', qos: 2 }] });
    t.equal(brief(await flow.next()), 'suback #1 2');
    names.send({ cmd: 'publish', topic: 'flow/x', payload: Buffer.from('two'), qos: 2, messageId: 9, dup: false, retain: false });
    t.equal(brief(await flow.next()), 'publish flow/x two q2 #1');
    flow.send({ cmd: 'puback', messageId: 999 });
    t.same(await flow.sync(), [], 'an acknowledgement of nothing in flight (sent twice, say) is ignored');
    const refused = stats('mqtt_refused.ack-flow');
    flow.send({ cmd: 'puback', messageId: 1 });
    t.same((await flow.rest()).map(brief), [], 'PUBACK for a QoS 2 message: closed');
    t.equal(stats('mqtt_refused.ack-flow'), refused + 1);
    line.close();
  });

  t.test('subscriptions: UNSUBSCRIBE, --max-subscriptions, $share groups made, refused, left, and jobs MQTT cannot name', async (t) => {
    const client = await raw('subs');
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'plain/#', qos: 0 }, { topic: '$share/fresh/fresh/+', qos: 1 }, { topic: '$share/fresh/other/#', qos: 1 }, { topic: 'x/1', qos: 0 }, { topic: 'x/2', qos: 0 }] });
    t.equal(brief(await client.next()), 'suback #1 0,1,128,0,128', 'a group of another pattern refused; the fourth filter over --max-subscriptions 3');
    const line = await LineClient.login(started.port, 'ops');
    line.write('send fresh.a 1', 'send plain.b 2');
    await line.lines(2);
    t.same([brief(await client.next()), brief(await client.next())], ['publish fresh/a 1 q1 #1', 'publish plain/b 2 q0'], 'a job of the group it made, and a message');
    client.send({ cmd: 'puback', messageId: 1 });
    client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['plain/#', '$share/fresh/fresh/+', 'never/subscribed'] });
    t.equal(brief(await client.next()), 'unsuback #2');
    line.write('send fresh.b 3', 'send plain.c 4');
    await line.lines(2);
    t.same(await client.sync(), [], 'nothing after UNSUBSCRIBE');
    const member = await LineClient.login(started.port, 'ops');
    member.write('take fresh.* as fresh');
    t.match(await member.lines(2), ['ok take fresh.* as fresh', /^job fresh\.b \d+ ops 3$/], 'the group kept the job for its next member');
    const odd = await raw('odd');
    odd.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/odd/weird/#', qos: 1 }] });
    t.equal(brief(await odd.next()), 'suback #1 1');
    line.write('recv $dead.odd', 'send weird.a/b x');
    t.match(await line.lines(3), ['ok recv $dead.odd', /^ok send \d+$/, /^msg \$dead\.odd \d+ \$linebus \d+ weird\.a\/b x$/], 'a job its only member cannot take is given back until it is dead');
    t.same(await odd.sync(), []);
    line.close();
    member.close();
  });

  t.test('a will the access file denies is not published, and counted', async (t) => {
    const denied = stats('mqtt_publishes_denied');
    const alice = await raw('alice-will', { username: 'alice', will: { topic: 'secret/x', payload: Buffer.from('bye'), qos: 0, retain: false } });
    alice.socket.destroy();
    await waitForLog(/mqtt will denied .*"client":"alice-will"/);
    t.equal(stats('mqtt_publishes_denied'), denied + 1);
  });

  t.test('/mqtt: MQTT over WebSocket, binary frames, input held within --max-input', async (t) => {
    const base = `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}`;
    t.equal((await fetch(`${base}/mqtt`)).status, 426, 'a WebSocket, not a page');
    const { WebSocket } = await import('ws');
    const open = (protocols: string[], origin?: string): Promise<{ ws: InstanceType<typeof WebSocket>; status?: number }> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/mqtt`, protocols, origin === undefined ? {} : { origin });
        ws.once('open', () => resolve({ ws }));
        ws.once('unexpected-response', (_req, res) => resolve({ ws, status: res.statusCode }));
      });
    t.equal((await open([])).status, 400, 'no subprotocol');
    t.equal((await open(['mqtt'], 'http://evil.example')).status, 403, 'another origin');
    const { ws } = await open(['mqttv3.1']);
    t.equal(ws.protocol, 'mqttv3.1');
    const packets: Buffer[] = [];
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data: Buffer) => packets.push(data));
    // CONNECT and 30 QoS 1 PUBLISHes in one frame: 3.6 KB behind the login, over --max-input (1024).
    const publishes = Array.from({ length: 30 }, (_, i) => generate({ cmd: 'publish', topic: 'ws/in', payload: Buffer.from(`n${i}`.padEnd(100, '.')), qos: 1, messageId: i + 1, dup: false, retain: false }));
    ws.send(Buffer.concat([generate({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'browser', clean: true, keepalive: 0, username: 'ops' }), ...publishes]));
    while (Buffer.concat(packets).length < 4 + 30 * 4) await new Promise((resolve) => ws.once('message', resolve));
    const answers = Buffer.concat(packets);
    t.same([...answers.subarray(0, 4)], [0x20, 2, 0, 0], 'CONNACK');
    t.same(Array.from({ length: 30 }, (_, i) => answers.readUInt16BE(4 + i * 4 + 2)), Array.from({ length: 30 }, (_, i) => i + 1), 'every PUBACK, in order');
    t.equal(committed('ws.in').length, 30);
    ws.send('a text frame');
    t.equal(await closed, 1003, 'a text frame closes it [MQTT-6.0.0-1]');

    // More retained messages than a page, to a WebSocket reader: read and written a page at a time.
    const writer = await raw('many-writer');
    writer.send(Buffer.concat(Array.from({ length: 501 }, (_, i) => generate({ cmd: 'publish', topic: `many/${String(i).padStart(3, '0')}`, payload: Buffer.from('r'.repeat(100)), qos: 0, retain: true, dup: false }))));
    await writer.sync();
    const reader = (await open(['mqtt'])).ws;
    const parsed: string[] = [];
    const incoming = parser({ protocolVersion: 4 });
    incoming.on('packet', (packet: Packet) => parsed.push(brief(packet)));
    reader.on('message', (data: Buffer) => incoming.parse(data));
    const readerClosed = new Promise<number>((resolve) => reader.once('close', (code) => resolve(code)));
    reader.send(Buffer.concat([generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'many-reader', clean: true, keepalive: 0, username: 'ops' }), generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'many/#', qos: 0 }] })]));
    while (parsed.length < 503) await new Promise((resolve) => reader.once('message', resolve));
    t.same(parsed.slice(0, 3), ['connack 0', 'suback #1 0', `publish many/000 ${'r'.repeat(100)} q0 retain`]);
    t.equal(parsed[502], `publish many/500 ${'r'.repeat(100)} q0 retain`, 'all 501, in topic order');
    reader.send(generate({ cmd: 'disconnect' }));
    t.equal(await readerClosed, 1000, 'DISCONNECT: closed normally');
  });

  t.test('--login-timeout: a connection with no CONNECT is closed', async (t) => {
    t.same((await muteEnd).map(brief), []);
    t.ok(logs.some((line) => /mqtt connection closed: login timeout/.test(line)));
  });

  t.test('who, stats and /metrics name the listener', async (t) => {
    const client = await raw('listed');
    const line = await LineClient.login(started.port, 'ops');
    line.write('who');
    t.ok((await line.until('ok who')).some((entry) => / ops 127\.0\.0\.1:\d+ mqtt \d+/.test(entry)));
    t.ok(stats('mqtt_refused.malformed') >= 1);
    const metrics = await (await fetch(`http://127.0.0.1:${(server.httpAddress() as { port: number }).port}/metrics`)).text();
    t.match(metrics, /^linebus_connections\{listener="mqtt"\} [1-9]/m);
    t.match(metrics, /^linebus_mqtt_refused_total\{reason="malformed"\} 1$/m);
    t.match(metrics, /^linebus_mqtt_publishes_denied_total [1-9]/m);
    client.close();
    line.close();
  });
});
