// node bench/queue.js <port>: does a queue group of 100,000 un-acked jobs slow
// anything else down? Against a running daemon started with
// --max-ack-pending 100000 (and a fresh --db): ping round trips and 50,000
// pipelined sends are measured twice without a group (the first warms up),
// then one worker takes 100,000 jobs and holds them, and both are measured
// again; last, `pending` lists the 100,000.
import net from 'node:net';
const port = Number(process.argv[2]);
function client(user) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    let buf = '', waiters = [], lines = [];
    s.on('data', (d) => {
      buf += d; const parts = buf.split('\n'); buf = parts.pop();
      for (const l of parts) { const w = waiters[0]; if (w && w.test(l)) { waiters.shift(); w.resolve(l); } else lines.push(l); }
    });
    const c = {
      s, lines,
      write: (t) => s.write(t),
      until: (re) => new Promise((r) => waiters.push({ test: (l) => re.test(l), resolve: r })),
    };
    s.write(`login ${user} x\n`);
    c.until(/^ok login/).then(() => resolve(c));
  });
}
async function measure(label) {
  const p = await client('pinger');
  const rtts = [];
  for (let i = 0; i < 2000; i++) { const t0 = process.hrtime.bigint(); p.write(`ping ${i}\n`); await p.until(new RegExp(`^pong ${i}$`)); rtts.push(Number(process.hrtime.bigint() - t0) / 1000); }
  rtts.sort((a, b) => a - b);
  const tx = await client('tx');
  const n = 50000; const t0 = process.hrtime.bigint();
  let text = ''; for (let i = 0; i < n; i++) text += `send other.t m${i}\n`;
  const done = new Promise((r) => { let k = 0; tx.s.on('data', (d) => { k += d.split('\n').length - 1; if (k >= n) r(); }); });
  tx.write(text); await done;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${label}: ping p50 ${rtts[1000].toFixed(0)} us, p99 ${rtts[1980].toFixed(0)} us; 50k pipelined sends ${(n / s / 1000).toFixed(0)} k/s`);
  p.s.destroy(); tx.s.destroy();
}
await measure('warm-up       ');
await measure('no group      ');
const w = await client('worker');
w.write('take jobs as g max 100000 wait 10m\n'); await w.until(/^ok take/);
const prod = await client('prod');
let text = ''; for (let i = 0; i < 100000; i++) text += `send jobs j${i}\n`;
let got = 0; const all = new Promise((r) => w.s.on('data', (d) => { got += (d.match(/^job /gm) || []).length; if (got >= 100000) r(); }));
prod.write(text); await all;
const st = await client('st'); st.write('stats\n'); await st.until(/^ok stats/);
console.log(st.lines.filter((l) => /jobs_pending|event_loop_delay/.test(l)).join('; '));
await measure('100k jobs held');
const t0 = Date.now(); st.write('pending g\n'); await st.until(/^ok pending/); console.log(`pending g listing 100k: ${Date.now() - t0} ms`);
process.exit(0);
