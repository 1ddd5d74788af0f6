// What the publish QoS costs the journal (issue 23): commits of 256
// messages of 100 bytes, all QoS 1 (no message_qos row, every line-protocol
// send) against all QoS 0 (one row of 256 digits per commit, a flood of
// MQTT QoS 0), on fresh files, alternating, several rounds:
//
//   node bench/qos-cost.js [rounds]
//
// Prints rows per second of each, their median and spread, and the ratio.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../dist/src/index.js';

const ROUNDS = Number(process.argv[2] ?? 7);
const COMMITS = 2000;
const BATCH = 256;
const body = 'x'.repeat(100);

function rowsPerSecond(qos) {
  const dir = mkdtempSync(join(tmpdir(), 'linebus-bench-qos-'));
  try {
    const store = Store.open(join(dir, 'q.db'), { checkpointInBackground: false });
    const batch = Array.from({ length: BATCH }, (_, i) => ({ topic: `t.${i % 10}`, sender: 'bench', body, qos }));
    const started = process.hrtime.bigint();
    for (let i = 0; i < COMMITS; i++) store.journal.append(batch, Date.now());
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    store.close();
    return (COMMITS * BATCH) / seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = { 1: [], 0: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const qos of round % 2 === 0 ? [1, 0] : [0, 1]) results[qos].push(rowsPerSecond(qos === 1 ? undefined : 0));
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const show = (values) => `${Math.round(median(values)).toLocaleString('en-US')} rows/s (${Math.round(Math.min(...values)).toLocaleString('en-US')}–${Math.round(Math.max(...values)).toLocaleString('en-US')})`;
console.log(`QoS 1, no digits:       ${show(results[1])}`);
console.log(`QoS 0, a row of digits: ${show(results[0])}`);
console.log(`QoS 0 / QoS 1: ${(median(results[0]) / median(results[1])).toFixed(3)} (medians of ${ROUNDS} rounds of ${COMMITS} commits of ${BATCH})`);
