/**
 * `linebus send`, `linebus recv`, `linebus request` (CLI.md, "Client
 * commands"): the Node client on the command line. Nothing on stdout but
 * what was asked for; one line on stderr and exit 1 when the task failed.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Client } from '../client/client.js';
import type { ConnectOptions } from '../client/endpoint.js';
import { LinebusError } from '../client/errors.js';
import type { Job, Message } from '../client/stream.js';
import { FatalError } from '../protocol/errors.js';

export interface ConnectionFlags {
  host: string;
  port: number;
  user?: string;
  password?: string;
  tls?: boolean;
  tlsCa?: string;
  url?: string;
}

/** Sends in flight at most, so a huge input costs bounded memory. */
const WINDOW = 10_000;

async function open(flags: ConnectionFlags, retry: boolean): Promise<Client> {
  const options: ConnectOptions = { host: flags.host, port: flags.port, retryMs: retry ? 200 : -1 };
  if (flags.user !== undefined) options.user = flags.user;
  if (flags.password !== undefined) options.password = flags.password;
  if (flags.tls || flags.tlsCa) options.tls = flags.tlsCa ? { ca: readFileSync(flags.tlsCa) } : true;
  if (flags.url !== undefined) options.url = flags.url;
  try {
    return await Client.connect(options);
  } catch (error) {
    const where = flags.url ?? `${flags.host}:${flags.port}`;
    if (error instanceof LinebusError) throw new FatalError(`${where}: err ${error.code} ${error.message}`);
    throw new FatalError(`cannot reach ${where}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

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

export interface RecvFlags extends ConnectionFlags {
  since?: string;
  last?: number;
  as?: string;
  take?: string;
  max?: number;
  count?: number;
  json?: boolean;
  reply?: boolean;
  timeout?: number;
}

/** Runs `argv` with the message on stdin; resolves to its exit status and first output line. */
function run(argv: string[], message: Message, timeoutS: number | undefined): Promise<{ ok: boolean; first: string; why: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, LINEBUS_TOPIC: message.topic, LINEBUS_ID: String(message.id), LINEBUS_FROM: message.sender },
      timeout: timeoutS ? timeoutS * 1000 : undefined,
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stdin.on('error', () => {});
    child.stdin.end(`${message.body}\n`);
    child.on('error', (error) => resolve({ ok: false, first: '', why: error.message }));
    child.on('close', (code, signal) => resolve({ ok: code === 0, first: output.split('\n')[0] ?? '', why: signal ? `killed by ${signal}` : `exit status ${code}` }));
  });
}

export async function recvCommand(pattern: string, argv: string[], flags: RecvFlags): Promise<void> {
  const client = await open(flags, true);
  const stream: AsyncIterable<Message | Job> = flags.take
    ? client.take(pattern, { as: flags.take, ...(flags.max ? { max: flags.max } : {}) })
    : client.recv(pattern, { ...(flags.since !== undefined ? { since: flags.since } : {}), ...(flags.last !== undefined ? { last: flags.last } : {}), ...(flags.as ? { as: flags.as } : {}) });
  let seen = 0;
  try {
    for await (const message of stream) {
      let ok = true;
      if (argv.length > 0) {
        const result = await run(argv, message, flags.timeout);
        ok = result.ok;
        if (!ok) process.stderr.write(`linebus: ${argv[0]} failed on ${message.topic} ${message.id}: ${result.why}\n`);
        if (ok && flags.reply && result.first !== '') await client.reply(message.id, result.first).catch((error: LinebusError) => process.stderr.write(`linebus: reply ${message.id}: err ${error.code} ${error.message}\n`));
      } else {
        const { topic, id, sender, body } = message;
        process.stdout.write(flags.json ? `${JSON.stringify({ id, topic, sender, body })}\n` : `${topic} ${id} ${sender} ${body}\n`);
      }
      if ('ack' in message) await (ok ? message.ack() : message.nack());
      else if (flags.as && ok) await client.mark(flags.as, message.id);
      if (flags.count !== undefined && ++seen >= flags.count) break;
    }
  } catch (error) {
    // The stream fails only with the server's refusal.
    throw new FatalError(`${pattern}: err ${(error as LinebusError).code} ${(error as LinebusError).message}`);
  } finally {
    await client.close();
  }
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
