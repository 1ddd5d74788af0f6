/** Following a key-value bucket of the cluster: what it holds, then its changes. */
import type { KV, KvEntry } from 'nats';

/**
 * Hands every entry of `kv` to `apply`, its present ones first, then its
 * changes as they come; resolves, once the present ones went through, to
 * the function that stops it.
 */
export async function followBucket(kv: KV, apply: (entry: KvEntry) => void): Promise<() => void> {
  let initialized!: () => void;
  const caughtUp = new Promise<void>((resolve) => (initialized = resolve));
  const watch = await kv.watch({ initializedFn: () => initialized() });
  void (async () => {
    for await (const entry of watch) apply(entry);
  })();
  await caughtUp;
  // nats.js may say so while the entries that came with the watch still
  // wait in its queue: they go through the loop before the next turn.
  await new Promise((resolve) => setImmediate(resolve));
  return () => watch.stop();
}
