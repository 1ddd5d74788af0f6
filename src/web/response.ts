/**
 * One HTTP response as the Sink of a web connection's outlet: the headers
 * go out when the door starts the response (or with its first bytes), the
 * status decided by then; a refusal before anything was written is the
 * whole response, with its own status.
 */
import type { ServerResponse } from 'node:http';
import { GUARD_HEADERS } from '../transport/http-guard.js';
import type { Sink } from '../transport/link.js';
import { drained } from '../transport/tcp.js';

export class ResponseSink implements Sink {
  readonly #res: ServerResponse;
  readonly #type: string;

  constructor(res: ServerResponse, type: string) {
    this.#res = res;
    this.#type = type;
  }

  /** The headers are out. */
  get started(): boolean {
    return this.#res.headersSent;
  }

  get writableLength(): number {
    return this.#res.writableLength;
  }

  /** Sends the headers of a 200 now: a stream's client sees it is under way. */
  start(): void {
    if (this.#res.headersSent) return;
    this.#res.writeHead(200, { ...GUARD_HEADERS, 'Content-Type': this.#type });
    this.#res.flushHeaders();
  }

  /** The whole response: `status`, `text` and the end. */
  answer(status: number, text: string): void {
    this.#res.writeHead(status, { ...GUARD_HEADERS, 'Content-Type': this.#type });
    this.#res.end(text);
  }

  write(data: string | Buffer): void {
    this.start();
    this.#res.write(data);
  }

  writev(pieces: readonly (string | Buffer)[]): void {
    this.start();
    this.#res.cork();
    for (const piece of pieces) this.#res.write(piece);
    this.#res.uncork();
  }

  drained(): Promise<void> {
    return drained(this.#res);
  }

  end(): void {
    this.start();
    this.#res.end();
  }

  destroy(): void {
    this.#res.destroy();
  }
}
