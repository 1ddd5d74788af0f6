/**
 * The line protocol over WebSocket (WEB.md, `/ws`), with the `ws` library:
 * each text frame from the client holds one or more lines; each line to it
 * is one text frame. A Link like any other.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Link, LinkEvents } from './link.js';

const LF = Buffer.from('\n');

export class WsLink implements Link {
  readonly listener = 'ws';
  readonly remoteAddress: string | undefined;
  readonly remote: string;
  readonly user: string | undefined;
  readonly #ws: WebSocket;
  /** Bytes handed to ws whose send has not completed. */
  #inFlight = 0;
  #drains: (() => void)[] = [];

  constructor(ws: WebSocket, req: IncomingMessage, user: string | undefined) {
    this.#ws = ws;
    this.remoteAddress = req.socket.remoteAddress;
    this.remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    this.user = user;
  }

  get writableLength(): number {
    return this.#inFlight;
  }

  open(events: LinkEvents): void {
    this.#ws.on('message', (data: Buffer) => {
      // A frame's last line need not end in LF.
      events.data(data[data.length - 1] === 0x0a ? data : Buffer.concat([data, LF]));
    });
    this.#ws.on('close', () => {
      this.#settle(true);
      events.close(undefined);
    });
    this.#ws.on('error', () => {});
  }

  write(data: string | Buffer): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    for (const line of data.toString().split('\n')) {
      if (line === '') continue;
      const bytes = Buffer.byteLength(line);
      this.#inFlight += bytes;
      this.#ws.send(line, () => {
        this.#inFlight -= bytes;
        this.#settle(false);
      });
    }
  }

  writev(pieces: readonly (string | Buffer)[]): void {
    for (const piece of pieces) this.write(piece);
  }

  #settle(closed: boolean): void {
    if (!closed && this.#inFlight > 0) return;
    for (const drained of this.#drains.splice(0)) drained();
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  drained(): Promise<void> {
    if (this.#inFlight === 0 || this.#ws.readyState !== this.#ws.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.#drains.push(resolve));
  }

  end(): void {
    this.#ws.close(1000);
  }

  destroy(): void {
    this.#ws.terminate();
  }
}
