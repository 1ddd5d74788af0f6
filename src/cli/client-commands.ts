/**
 * `linebus send` and `linebus request` (CLI.md, "Client commands"; `recv`
 * is recv.ts): the Node client on the command line. Nothing on stdout but
 * what was asked for; one line on stderr and exit 1 when the task failed.
 */
import { createInterface } from 'node:readline';
import { LinebusError } from '../client/errors.js';
import { FatalError } from '../protocol/errors.js';
import { open } from './connect.js';
import type { ConnectionFlags } from './connect.js';

/** Sends in flight at most, so a huge input costs bounded memory. */
const WINDOW = 10_000;

export async function sendCommand(topic: string, words: string[], flags: ConnectionFlags & { verbose?: boolean }): Promise<void> {
  const client = await open(flags, false);
  let failed = 0;
  let lost = false;
  let acked = 0;
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  const progress = process.stderr.isTTY && words.length === 0;
  const one = (body: string): Promise<void> => {
    sent++;
    const done = client.send(topic, body).then(
      (id) => {
        acked++;
        if (flags.verbose) process.stdout.write(`${id}\n`);
        if (progress && acked % 1000 === 0) process.stderr.write(`\rsent ${acked}`);
      },
      (error: LinebusError) => {
        if (error.code === 'closed') lost = true;
        else {
          failed++;
          process.stderr.write(`linebus: ${topic}: err ${error.code} ${error.message}\n`);
        }
      },
    );
    inFlight.add(done);
    return done.finally(() => inFlight.delete(done));
  };
  try {
    if (words.length > 0) await one(words.join(' '));
    else {
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        if (line === '') continue;
        void one(line);
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    }
  } finally {
    if (progress && acked >= 1000) process.stderr.write('\n');
  }
  if (lost) throw new FatalError(`the connection was lost after ${acked} of ${sent} messages were acknowledged; the others may or may not be journaled`);
  await client.close();
  if (failed > 0) process.exitCode = 1;
}

export async function requestCommand(topic: string, words: string[], flags: ConnectionFlags & { within?: string }): Promise<void> {
  const client = await open(flags, false);
  try {
    const { answer } = await client.request(topic, words.join(' '), flags.within ? { within: flags.within } : {});
    process.stdout.write(`${answer}\n`);
  } catch (error) {
    if (!(error instanceof LinebusError)) throw error;
    process.stderr.write(`linebus: err ${error.code} ${error.message}\n`);
    process.exitCode = 1;
  }
  await client.close();
}
