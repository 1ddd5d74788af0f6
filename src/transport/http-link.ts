/**
 * One HTTP request as a Link (WEB.md): the transport writes the request's
 * commands (`recv`, `replay`, `send` lines) into a session of its own, and
 * turns what the session writes back into the response: `msg` lines as
 * plain lines, server-sent events or JSON, the first reply deciding the
 * status. So HTTP streams get the session's catch-up, paging, --max-pending
 * and access rules, and nothing in the bus knows about HTTP.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Link, LinkEvents } from './link.js';
import { drained } from './tcp.js';

export type Format = 'plain' | 'sse' | 'json';

/** What the response is made of. */
export interface Exchange {
  readonly format: Format;
  /** POST: every reply collected, the status from the first refusal. */
  readonly collect: boolean;
  /** The lines the session is given, LF-terminated. */
  readonly commands: string;
  /** The commit time of message `id`, for JSON. */
  tsOf(id: number): number | undefined;
}

/** The status an `err <code>` reply maps to. */
const STATUS: Record<string, number> = { syntax: 400, toolong: 413, encoding: 400, auth: 401, denied: 403, notfound: 404, busy: 503, slow: 503, shutdown: 503, timeout: 504 };

/** `msg <topic> <id> <from> <message>`, split. */
function fields(line: string): { topic: string; id: number; sender: string; body: string } {
  const [, topic = '', id = '0', sender = ''] = line.split(' ', 4);
  const body = line.slice(5 + topic.length + id.length + sender.length + 2);
  return { topic, id: Number(id), sender, body };
}

export class HttpLink implements Link {
  readonly listener = 'http';
  readonly remoteAddress: string | undefined;
  readonly remote: string;
  readonly user: string;
  readonly #res: ServerResponse;
  readonly #exchange: Exchange;
  #started = false;
  readonly #collected: string[] = [];
  #status = 200;

  constructor(req: IncomingMessage, res: ServerResponse, user: string, exchange: Exchange) {
    this.remoteAddress = req.socket.remoteAddress;
    this.remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    this.user = user;
    this.#res = res;
    this.#exchange = exchange;
  }

  get writableLength(): number {
    return this.#res.writableLength;
  }

  open(events: LinkEvents): void {
    this.#res.on('close', () => events.close(undefined));
    // After the session's constructor: it writes its greeting first.
    queueMicrotask(() => {
      events.data(Buffer.from(this.#exchange.commands));
      events.end();
    });
  }

  write(data: string | Buffer): void {
    for (const line of data.toString().split('\n')) if (line !== '') this.#line(line);
  }

  #line(line: string): void {
    if (line.startsWith('hello ') || line === 'ok logoff') return;
    if (this.#exchange.collect) {
      const code = line.startsWith('err ') ? line.split(' ', 2)[1] : undefined;
      if (code !== undefined && this.#status === 200) this.#status = STATUS[code] ?? 500;
      this.#collected.push(line);
      return;
    }
    if (line.startsWith('err ')) {
      this.#fail(line);
      return;
    }
    this.#start(200);
    if (line.startsWith('msg ')) this.#res.write(this.#format(line));
    else if (line.startsWith('ok replay ') && this.#exchange.format === 'plain') this.#res.write(`${line}\n`);
  }

  /** A refusal before anything was written is the status; after, the end of the stream. */
  #fail(line: string): void {
    const code = line.split(' ', 2)[1] as string;
    if (!this.#started) {
      this.#start(STATUS[code] ?? 500);
      this.#res.end(`${line}\n`);
      return;
    }
    if (this.#exchange.format === 'sse') this.#res.write(`event: ${code}\ndata: ${line.slice(5 + code.length)}\n\n`);
    else if (this.#exchange.format === 'plain') this.#res.write(`${line}\n`);
    this.#res.end();
  }

  #start(status: number): void {
    if (this.#started) return;
    this.#started = true;
    const type = { plain: 'text/plain; charset=utf-8', sse: 'text/event-stream; charset=utf-8', json: 'application/x-ndjson; charset=utf-8' }[this.#exchange.format];
    this.#res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    this.#res.flushHeaders();
  }

  #format(line: string): string {
    const format = this.#exchange.format;
    if (format === 'plain') return `${line}\n`;
    const { topic, id, sender, body } = fields(line);
    // A CR ends an SSE line: it travels escaped.
    if (format === 'sse') return `id: ${id}\nevent: msg\ndata: ${topic} ${sender} ${body.replace(/\r/g, '\\r')}\n\n`;
    return `${JSON.stringify({ id, ts: this.#exchange.tsOf(id) ?? null, topic, sender, body })}\n`;
  }

  pause(): void {}

  resume(): void {}

  drained(): Promise<void> {
    return drained(this.#res);
  }

  end(): void {
    if (this.#exchange.collect && !this.#res.headersSent) {
      // With Accept: application/json, the ids of a POST that went through.
      const json = this.#exchange.format === 'json' && this.#status === 200;
      this.#res.writeHead(this.#status, { 'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      this.#res.end(json ? JSON.stringify(this.#collected.map((line) => Number(line.slice('ok send '.length)))) : this.#collected.map((line) => `${line}\n`).join(''));
      return;
    }
    this.#start(200);
    this.#res.end();
  }

  destroy(): void {
    this.#res.destroy();
  }
}
