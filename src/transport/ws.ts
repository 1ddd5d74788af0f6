/**
 * The line protocol over WebSocket (WEB.md, `/ws`), with the `ws` library:
 * each text frame from the client holds one or more lines; each line to it
 * is one text frame. A Link like any other. What every WebSocket Link
 * shares (the bytes in flight, backpressure, closing) is WebSocketLink;
 * ws-binary.ts is the other one, of bytes in binary frames.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Link, LinkEvents } from './link.js';

const LF = Buffer.from('\n');

export abstract class WebSocketLink implements Link {
  abstract readonly listener: string;
  readonly remoteAddress: string | undefined;
  readonly remote: string;
  protected readonly ws: WebSocket;
  /** Bytes handed to ws whose send has not completed. */
  #inFlight = 0;
  #drains: (() => void)[] = [];

  constructor(ws: WebSocket, req: IncomingMessage) {
    this.ws = ws;
    this.remoteAddress = req.socket.remoteAddress;
    this.remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  }

  get writableLength(): number {
    return this.#inFlight;
  }

  abstract open(events: LinkEvents): void;
  abstract write(data: string | Buffer): void;

  /** The close and errors, for `open`. */
  protected onClose(events: LinkEvents): void {
    this.ws.on('close', () => {
      this.#settle(true);
      events.close(undefined);
    });
    this.ws.on('error', () => {});
  }

  /** One frame of `bytes` bytes (text for a string, binary for bytes), counted until ws has sent it. */
  protected send(frame: string | Buffer, bytes: number): void {
    this.#inFlight += bytes;
    this.ws.send(frame, () => {
      this.#inFlight -= bytes;
      this.#settle(false);
    });
  }

  writev(pieces: readonly (string | Buffer)[]): void {
    for (const piece of pieces) this.write(piece);
  }

  #settle(closed: boolean): void {
    if (!closed && this.#inFlight > 0) return;
    for (const drained of this.#drains.splice(0)) drained();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  drained(): Promise<void> {
    if (this.#inFlight === 0 || this.ws.readyState !== this.ws.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.#drains.push(resolve));
  }

  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}

export class WsLink extends WebSocketLink {
  readonly listener = 'ws';
  readonly user: string | undefined;

  constructor(ws: WebSocket, req: IncomingMessage, user: string | undefined) {
    super(ws, req);
    this.user = user;
  }

  open(events: LinkEvents): void {
    this.ws.on('message', (data: Buffer) => {
      // A frame's last line need not end in LF.
      events.data(data[data.length - 1] === 0x0a ? data : Buffer.concat([data, LF]));
    });
    this.onClose(events);
  }

  write(data: string | Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    for (const line of data.toString().split('\n')) {
      if (line !== '') this.send(line, Buffer.byteLength(line));
    }
  }
}
