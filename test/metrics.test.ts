/**
 * `/metrics` as Prometheus scrapes it (WEB.md): linebus's own figures, the
 * process and Node.js figures every exporter has, and the build.
 */
import t from 'tap';
import { startServer } from './helpers.js';
import type { Teardown } from './helpers.js';
import { version } from '../src/version.js';

async function web(t: Teardown): Promise<string> {
  const started = await startServer(t, { http: { port: 0, host: '127.0.0.1', origins: [] } });
  return `http://127.0.0.1:${(started.server.httpAddress() as { port: number }).port}`;
}

t.test('/metrics has the process and Node.js collectors and linebus_build_info, scrape after scrape', async (t) => {
  const base = await web(t);
  for (const scrape of [1, 2]) {
    const response = await fetch(`${base}/metrics`);
    t.equal(response.status, 200, `scrape ${scrape}`);
    const lines = (await response.text()).split('\n');
    t.ok(lines.includes(`linebus_build_info{version="${version()}",node="${process.version}"} 1`), `scrape ${scrape}: build info`);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
      t.ok(lines.some((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`)), `scrape ${scrape}: ${name}`);
    }
    t.ok(lines.includes('linebus_messages_in_total 0'), `scrape ${scrape}: linebus's own figures too`);
  }
});
