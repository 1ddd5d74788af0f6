// The scenarios, each written once against the driver interface of
// drivers.js. Messages are 100 bytes. Publishers pipeline: together they
// keep up to WINDOW messages sent but not yet acknowledged (each its share),
// so 50 publishers put no more in flight than one.
export const BODY = 'x'.repeat(100);
export const WINDOW = 1000;

const tick = () => new Promise((resolve) => setImmediate(resolve));
const seconds = (fromNs) => Number(process.hrtime.bigint() - fromNs) / 1e9;

async function until(check, what, timeoutS = 120) {
  const started = process.hrtime.bigint();
  while (!check()) {
    if (seconds(started) > timeoutS) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

/** Sends `perPublisher` messages from each publisher, windowed; resolves when all are acknowledged. */
async function pump(publishers, perPublisher, topicOf, body = () => BODY) {
  const window = Math.max(10, Math.floor(WINDOW / publishers.length));
  for (;;) {
    let done = true;
    for (const [i, pub] of publishers.entries()) {
      while (pub.sent < perPublisher && pub.sent - pub.acked < window) pub.send(topicOf(i), body(pub.sent));
      if (pub.sent === perPublisher && pub.finish && !pub.finishing) pub.finishing = pub.finish();
      if (pub.acked < perPublisher) done = false;
    }
    if (done) return;
    await tick();
  }
}

/** How each system names the topic, pattern or keys of a scenario. */
function names(driver) {
  const js = driver.name === 'nats-jetstream';
  return {
    topic: (t) => t,
    // Redis Streams have no patterns: the subscriber reads every key.
    pattern: (prefix, count) => (driver.name === 'redis-streams' ? Array.from({ length: count }, (_, i) => `${prefix}.${i}`) : `${prefix}.*`),
    js,
  };
}

/** 1 publisher to 1 subscriber: delivered and acknowledged messages per second. */
export async function oneToOne(driver, count) {
  const sub = await driver.subscriber('one');
  const pub = await driver.publisher();
  const started = process.hrtime.bigint();
  await pump([pub], count, () => 'one');
  const ackedS = seconds(started);
  await until(() => sub.received >= count, 'deliveries');
  const deliveredS = seconds(started);
  pub.close();
  sub.close();
  return { delivered_per_s: count / deliveredS, acked_per_s: count / ackedS };
}

/** 1 publisher to 50 subscribers: deliveries per second. */
export async function fanOut(driver, count, receivers = 50) {
  const subs = [];
  for (let i = 0; i < receivers; i++) subs.push(await driver.subscriber('fan'));
  const pub = await driver.publisher();
  const started = process.hrtime.bigint();
  await pump([pub], count, () => 'fan');
  await until(() => subs.every((s) => s.received >= count), 'fan-out deliveries');
  const elapsed = seconds(started);
  pub.close();
  for (const s of subs) s.close();
  return { deliveries_per_s: (count * receivers) / elapsed };
}

/** 50 publishers, each on its own topic, to 1 subscriber on a pattern. */
export async function fanIn(driver, perPublisher, publishers = 50) {
  const sub = await driver.subscriber(names(driver).pattern('in', publishers));
  const pubs = [];
  for (let i = 0; i < publishers; i++) pubs.push(await driver.publisher());
  const started = process.hrtime.bigint();
  await pump(pubs, perPublisher, (i) => `in.${i}`);
  await until(() => sub.received >= perPublisher * publishers, 'fan-in deliveries');
  const elapsed = seconds(started);
  for (const p of pubs) p.close();
  sub.close();
  return { delivered_per_s: (perPublisher * publishers) / elapsed };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Latency at a fixed rate: the publisher stamps each message with the
 * generator's clock; the subscriber, in the same process, subtracts.
 */
export async function latency(driver, rate = 5000, durationS = 3, warmupS = 0.5) {
  const samples = [];
  const sub = await driver.subscriber('lat', (body) => {
    const sentNs = BigInt(body.slice(0, body.indexOf(' ')));
    if (sentNs > warmupEndNs) samples.push(Number(process.hrtime.bigint() - sentNs) / 1000);
  });
  const pub = await driver.publisher();
  const started = process.hrtime.bigint();
  const warmupEndNs = started + BigInt(Math.round(warmupS * 1e9));
  const total = Math.round(rate * (durationS + warmupS));
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(seconds(started) * rate));
      while (pub.sent < due) {
        const stamp = String(process.hrtime.bigint());
        pub.send('lat', `${stamp} ${BODY.slice(stamp.length + 1)}`);
      }
      if (pub.sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await until(() => sub.received >= total, 'latency deliveries');
  pub.close();
  sub.close();
  samples.sort((a, b) => a - b);
  return { p50_us: percentile(samples, 50), p99_us: percentile(samples, 99), p999_us: percentile(samples, 99.9), samples: samples.length };
}

/**
 * Journals `count` messages, then reads them all back to one client:
 * linebus `replay`, Redis XRANGE in batches of 1000, a JetStream consumer.
 * Samples the server's RSS meanwhile.
 */
export async function replay(driver, server, count) {
  const pub = await driver.publisher();
  await pump([pub], count, () => 'replay');
  pub.close();
  const before = server.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 20);
  const started = process.hrtime.bigint();
  const received = await driver.replay('replay', count);
  const elapsed = seconds(started);
  clearInterval(sampler);
  if (received !== count) throw new Error(`${driver.name} replayed ${received} of ${count}`);
  return { messages_per_s: count / elapsed, seconds: elapsed, rss_growth_mb: (peak - before) / 2 ** 20 };
}

/** Server RSS per idle, logged-in, subscribed connection. */
export async function rssPerConnection(driver, server, connections) {
  const before = server.rss();
  const idle = [];
  for (let start = 0; start < connections; start += 250) {
    const batch = [];
    for (let i = start; i < Math.min(connections, start + 250); i++) batch.push(driver.idle(i));
    idle.push(...(await Promise.all(batch)));
  }
  const after = server.rss();
  for (const c of idle) c.close();
  return { bytes_per_connection: (after - before) / connections, connections };
}
