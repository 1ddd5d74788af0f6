/**
 * `linebus recv` (CLI.md, "Client commands"): prints messages or runs a
 * command for each, taking jobs of a group with --take, across reconnects.
 */
import { spawn } from 'node:child_process';
import type { Client } from '../client/client.js';
import { LinebusError } from '../client/errors.js';
import type { Job, Message, StartOptions } from '../client/stream.js';
import { FatalError } from '../protocol/errors.js';
import { duration } from '../protocol/wire.js';
import { open } from './connect.js';
import type { ConnectionFlags } from './connect.js';
import { escapeControls } from './display.js';

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
  /** Milliseconds before a failed job's next try, doubling per failure up to retryMax. */
  retryDelay: number;
  retryMax: number;
}

/**
 * `topic id from message`, or a JSON line. On a terminal, control
 * characters are made visible (as `tail` does): a message could otherwise
 * move the cursor, recolour the screen or forge a line. Login names in
 * open mode are free-form, so the whole line is escaped.
 */
export function recvLine(message: Message, json: boolean, terminal: boolean): string {
  const { topic, id, sender, body, ts } = message;
  // The fields in the order of tail --json's.
  if (json) return `${JSON.stringify({ id, ts, topic, sender, body })}\n`;
  const line = `${topic} ${id} ${sender} ${body}`;
  return `${terminal ? escapeControls(line) : line}\n`;
}

/** How long a job that failed `failures` times waits: `base`, doubled for each failure before, at most `max`. */
export function retryDelay(failures: number, base: number, max: number): number {
  return Math.min(base * 2 ** Math.min(failures - 1, 40), max);
}

/** Failures of each job seen by this recv, for its next delay; a job that went dead never comes back, so the oldest counts go first. */
class Failures {
  static readonly KEPT = 10_000;
  readonly #counts = new Map<number, number>();

  /** Counts one more failure of `id`; returns how many it has had. */
  add(id: number): number {
    const count = (this.#counts.get(id) ?? 0) + 1;
    this.#counts.delete(id);
    this.#counts.set(id, count);
    if (this.#counts.size > Failures.KEPT) this.#counts.delete(this.#counts.keys().next().value as number);
    return count;
  }

  forget(id: number): void {
    this.#counts.delete(id);
  }
}

interface Ran {
  ok: boolean;
  /** With --reply: the first line of output. */
  first: string;
  why: string;
}

/** A line of output without the CR of a CR LF end (a line the client would refuse). */
function withoutCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * Runs `argv` with the message on stdin. Its output goes to ours; with
 * `reply`, but for its first line, which is the reply.
 */
function run(argv: string[], message: Message, timeoutS: number | undefined, reply: boolean): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['pipe', reply ? 'pipe' : 'inherit', 'inherit'],
      env: { ...process.env, LINEBUS_TOPIC: message.topic, LINEBUS_ID: String(message.id), LINEBUS_FROM: message.sender },
      timeout: timeoutS ? timeoutS * 1000 : undefined,
    });
    let first: string | undefined;
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      if (first !== undefined) return void process.stdout.write(text);
      partial += text;
      const lf = partial.indexOf('\n');
      if (lf === -1) return;
      first = withoutCr(partial.slice(0, lf));
      if (lf + 1 < partial.length) process.stdout.write(partial.slice(lf + 1));
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(`${message.body}\n`);
    child.on('error', (error) => resolve({ ok: false, first: '', why: error.message }));
    child.on('close', (code, signal) => resolve({ ok: code === 0, first: first ?? withoutCr(partial), why: signal ? `killed by ${signal}` : `exit status ${code}` }));
  });
}

/** An ack, nack, mark or reply that failed: the job or message comes again, or was handled elsewhere; recv goes on. */
function report(what: string): (error: Error) => void {
  return (error) => {
    // Lost with the connection: the reconnect brings the job or message back.
    if (error instanceof LinebusError && (error.code === 'closed' || error.code === 'shutdown')) return;
    process.stderr.write(`linebus: ${what}: err ${(error as LinebusError).code} ${error.message}\n`);
  };
}

export async function recvCommand(pattern: string, argv: string[], flags: RecvFlags): Promise<void> {
  const client: Client = await open(flags, true, flags.json === true);
  const start: StartOptions = flags.since !== undefined ? { since: flags.since } : flags.last !== undefined ? { last: flags.last } : {};
  const stream: AsyncIterable<Message | Job> = flags.take
    ? client.take(pattern, { as: flags.take, ...start, ...(flags.max ? { max: flags.max } : {}) })
    : client.recv(pattern, { ...start, ...(flags.as ? { as: flags.as } : {}) });
  const terminal = process.stdout.isTTY === true;
  const failures = new Failures();
  let seen = 0;
  try {
    for await (const message of stream) {
      let ok = true;
      if (argv.length > 0) {
        const result = await run(argv, message, flags.timeout, flags.reply === true);
        ok = result.ok;
        if (!ok) process.stderr.write(`linebus: ${argv[0]} failed on ${message.topic} ${message.id}: ${result.why}\n`);
        if (ok && flags.reply && result.first !== '') await client.reply(message.id, result.first).catch(report(`reply ${message.id}`));
      } else {
        process.stdout.write(recvLine(message, flags.json === true, terminal));
      }
      if ('ack' in message) {
        if (ok) failures.forget(message.id);
        const delay = ok ? 0 : retryDelay(failures.add(message.id), flags.retryDelay, flags.retryMax);
        await (ok ? message.ack() : message.nack(delay > 0 ? duration(delay) : undefined)).catch(report(`${ok ? 'ack' : 'nack'} ${message.id}`));
      } else if (flags.as && ok) {
        await client.mark(flags.as, message.id).catch(report(`mark ${flags.as} ${message.id}`));
      }
      if (flags.count !== undefined && ++seen >= flags.count) break;
    }
  } catch (error) {
    // The stream fails only with the server's refusal.
    throw new FatalError(`${pattern}: err ${(error as LinebusError).code} ${(error as LinebusError).message}`);
  } finally {
    await client.close();
  }
}
