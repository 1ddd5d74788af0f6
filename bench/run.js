// npm run bench: linebus against Redis and NATS on this machine, in one run.
//
// Every server starts fresh on loopback, pinned to core 0; this generator
// pins itself to core 1. The same scenarios (scenarios.js) drive every
// system through the same driver interface (drivers.js). A trivial relay
// of ours (relay.js) runs the same scenarios to show the generator's
// ceiling. Prints a table of ratios and writes the raw numbers as JSON.
//
//   npm run bench                 # the full run (about 8 minutes)
//   npm run bench -- --quick      # smaller counts, for trying it out
//
// The generator is Node, one core: it is the bottleneck in some scenarios
// (fan-out above all). Each scenario records its CPU and the server's; a
// cell where the generator was bound is marked and gets no ratio. The
// neutral yardstick is the native generator of ../shared/bench (run.sh).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { linebusDriver, natsDriver, redisDriver } from './drivers.js';
import { fanIn, fanOut, latency, oneToOne, replay, rssPerConnection } from './scenarios.js';
import { ensurePeers, GENERATOR_CORE, have, start } from './servers.js';
import { startup } from './startup.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
// --only linebus,relay: run just those systems (for profiling and tuning).
const only = args.includes('--only') ? new Set((args[args.indexOf('--only') + 1] ?? '').split(',')) : undefined;
const log = (text) => process.stderr.write(`bench: ${text}\n`);

if (have('taskset') && process.env.LINEBUS_BENCH_PINNED !== '1') {
  const result = spawnSync('taskset', ['-c', GENERATOR_CORE, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, LINEBUS_BENCH_PINNED: '1' },
  });
  process.exit(result.status ?? 1);
}

const COUNTS = quick
  ? { oneToOne: 20000, fanOut: 2000, fanIn: 400, latencyS: 1, replay: 50000, connections: 1000, startupRows: 1_000_000 }
  : { oneToOne: 200000, fanOut: 20000, fanIn: 4000, latencyS: 3, replay: 500000, connections: 10000, startupRows: 10_000_000 };

/** Which scenarios each system runs, and how to start its server. */
const SYSTEMS = [
  { name: 'relay', server: 'relay', driver: (port) => linebusDriver(port, 'relay'), run: ['oneToOne', 'fanOut', 'fanIn', 'latency'] },
  { name: 'linebus', server: 'linebus', driver: (port) => linebusDriver(port), run: ['oneToOne', 'fanOut', 'fanIn', 'latency', 'replay', 'rss'] },
  { name: 'linebus --sync full', server: 'linebus', extra: ['--sync', 'full'], driver: (port) => linebusDriver(port, 'linebus --sync full'), run: ['oneToOne', 'fanIn'] },
  { name: 'redis-streams', server: 'redis', driver: (port) => redisDriver(port, { streams: true }), run: ['oneToOne', 'fanOut', 'fanIn', 'latency', 'replay'] },
  { name: 'nats-jetstream', server: 'nats', driver: (port) => natsDriver(port, { jetstream: true }), run: ['oneToOne', 'fanOut', 'fanIn', 'latency', 'replay'] },
  { name: 'redis-pubsub', server: 'redis', driver: (port) => redisDriver(port, { streams: false }), run: ['oneToOne', 'fanOut', 'fanIn', 'latency', 'rss'] },
  { name: 'nats-core', server: 'nats', driver: (port) => natsDriver(port, { jetstream: false }), run: ['oneToOne', 'fanOut', 'fanIn', 'latency', 'rss'] },
];

async function measure(system) {
  const results = {};
  // Memory per connection is measured on a server of its own, fresh: on one
  // that already ran the other scenarios, its heap has room to spare.
  if (system.run.includes('rss')) {
    const fresh = await start(system.server, system.extra ?? []);
    try {
      log(`${system.name}: rss`);
      results.rss = await rssPerConnection(system.driver(fresh.port), fresh, COUNTS.connections);
    } finally {
      await fresh.stop();
    }
  }
  const server = await start(system.server, system.extra ?? []);
  const driver = system.driver(server.port);
  await driver.setup?.();
  /**
   * Runs one scenario and records how busy this generator and the server
   * were meanwhile, in % of one core: a number measured while the generator
   * was near 100% says more about the generator than about the server.
   */
  const measured = async (run) => {
    const generator = process.cpuUsage();
    const serverBefore = server.cpuSeconds();
    const started = process.hrtime.bigint();
    const result = await run();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(generator);
    result.generator_cpu_pct = Math.round(((used.user + used.system) / 1e6 / seconds) * 100);
    result.server_cpu_pct = Math.round(((server.cpuSeconds() - serverBefore) / seconds) * 100);
    return result;
  };
  try {
    for (const scenario of system.run) {
      log(`${system.name}: ${scenario}`);
      if (scenario === 'oneToOne') results.oneToOne = await measured(() => oneToOne(driver, COUNTS.oneToOne));
      if (scenario === 'fanOut') results.fanOut = await measured(() => fanOut(driver, COUNTS.fanOut));
      if (scenario === 'fanIn') results.fanIn = await measured(() => fanIn(driver, COUNTS.fanIn));
      if (scenario === 'latency') results.latency = await measured(() => latency(driver, 5000, COUNTS.latencyS));
      if (scenario === 'replay') results.replay = await measured(() => replay(driver, server, COUNTS.replay));
      if (scenario === 'replay' && driver.stats) {
        // The longest synchronous step of the daemon so far, replay included.
        results.replay.event_loop_delay_max_ms = (await driver.stats()).event_loop_delay_max_ms;
      }
    }
  } finally {
    await server.stop();
  }
  return results;
}

/** Label, value, better, and the scenario whose CPU figures apply (generator-bound cells get no ratio). */
const ROWS = [
  ['1 to 1, delivered msgs/s', (r) => r.oneToOne?.delivered_per_s, 'higher', 'oneToOne'],
  ['1 to 1, acknowledged msgs/s', (r) => r.oneToOne?.acked_per_s, 'higher', 'oneToOne'],
  ['1 to 50, deliveries/s', (r) => r.fanOut?.deliveries_per_s, 'higher', 'fanOut'],
  ['50 to 1 on a pattern, msgs/s', (r) => r.fanIn?.delivered_per_s, 'higher', 'fanIn'],
  ['latency p50 at 5k msgs/s, µs', (r) => r.latency?.p50_us, 'lower', 'latency'],
  ['latency p99 at 5k msgs/s, µs', (r) => r.latency?.p99_us, 'lower', 'latency'],
  ['latency p99.9 at 5k msgs/s, µs', (r) => r.latency?.p999_us, 'lower', 'latency'],
  [`replay of ${COUNTS.replay / 1000}k, msgs/s`, (r) => r.replay?.messages_per_s, 'higher', 'replay'],
  ['replay, server RSS growth, MB', (r) => r.replay?.rss_growth_mb, 'lower', undefined],
  [`RSS per idle connection (${COUNTS.connections}), bytes`, (r) => r.rss?.bytes_per_connection, 'lower', undefined],
];

/** The generator at this much of its core or more bounded the measurement. */
const GENERATOR_BOUND_PCT = 85;
const generatorBound = (result, scenario) => scenario !== undefined && (result?.[scenario]?.generator_cpu_pct ?? 0) >= GENERATOR_BOUND_PCT;

function format(value) {
  if (value === undefined) return '-';
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

function table(results) {
  const systems = SYSTEMS.map((s) => s.name).filter((name) => name !== 'relay');
  const peers = systems.filter((name) => !name.startsWith('linebus'));
  const head = ['', ...systems, 'generator ceiling (relay)', ...peers.map((p) => `linebus / ${p}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`];
  for (const [label, pick, better, scenario] of ROWS) {
    const ceiling = pick(results.relay ?? {});
    // Bounded by the generator: its own CPU near a core, or within 20% of
    // what it reaches against a trivial relay. Such a cell gets no ratio.
    const bound = (name) => {
      const value = pick(results[name] ?? {});
      const atCeiling = better === 'higher' && value !== undefined && ceiling !== undefined && value >= 0.8 * ceiling;
      return atCeiling || generatorBound(results[name], scenario);
    };
    const cells = systems.map((name) => `${format(pick(results[name] ?? {}))}${bound(name) ? ' ⁽ᵍ⁾' : ''}`);
    const ours = pick(results.linebus ?? {});
    const ratios = peers.map((name) => {
      const theirs = pick(results[name] ?? {});
      if (ours === undefined || theirs === undefined || theirs === 0 || bound('linebus') || bound(name)) return '-';
      return `${(ours / theirs).toFixed(2)}x`;
    });
    lines.push(`| ${[label, ...cells, format(ceiling), ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** CPU of the generator and of the server, % of one core, per scenario and system. */
function cpuTable(results) {
  const systems = SYSTEMS.map((s) => s.name);
  const scenarios = [['1 to 1', 'oneToOne'], ['1 to 50', 'fanOut'], ['50 to 1', 'fanIn'], ['latency', 'latency'], ['replay', 'replay']];
  const lines = [`| generator % / server % | ${systems.join(' | ')} |`, `|${[0, ...systems].map(() => ' --- ').join('|')}|`];
  for (const [label, key] of scenarios) {
    const cells = systems.map((name) => {
      const r = results[name]?.[key];
      return r ? `${r.generator_cpu_pct} / ${r.server_cpu_pct}` : '-';
    });
    lines.push(`| ${[label, ...cells].join(' | ')} |`);
  }
  return lines.join('\n');
}

ensurePeers(log);
const results = { startedAt: new Date().toISOString(), quick, counts: COUNTS, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version } };
for (const system of SYSTEMS) if (!only || only.has(system.name)) results[system.name] = await measure(system);
log(`linebus: start-up on a journal of ${COUNTS.startupRows.toLocaleString('en-US')} rows`);
results.startup = await startup(COUNTS.startupRows);

const output = `${table(results)}

⁽ᵍ⁾ bounded by the generator (its CPU at ${GENERATOR_BOUND_PCT}% of a core or more, or within 20% of its ceiling against a trivial relay): the number is the generator's, and no ratio is given.

${cpuTable(results)}

Start-up of linebus on a journal of ${COUNTS.startupRows.toLocaleString('en-US')} rows: ${results.startup.seconds.toFixed(3)} s to 'listening'.
${results.linebus?.replay?.event_loop_delay_max_ms !== undefined ? `linebus's longest event-loop stall over all its scenarios, replay included: ${results.linebus.replay.event_loop_delay_max_ms} ms.\n` : ''}`;
process.stdout.write(output);
const file = fileURLToPath(new URL(quick ? './results-quick.json' : './results.json', import.meta.url));
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
log(`raw numbers in ${file}`);
