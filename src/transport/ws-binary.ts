/**
 * A byte stream over WebSocket binary frames, for a door that is not lines
 * (MQTT over `/mqtt`, MQTT.md "Listeners"): the client's frames are one
 * stream of bytes whatever their boundaries, and each write to it is one
 * binary frame. A text frame is not part of such a stream [MQTT-6.0.0-1]:
 * the connection is closed.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Link, LinkEvents } from './link.js';

/** WebSocket close code 1003: a data type the endpoint cannot accept. */
const UNSUPPORTED_DATA = 1003;

export class BinaryWsLink implements Link {
  readonly listener: string;
  readonly remoteAddress: string | undefined;
  readonly remote: string;
  readonly #ws: WebSocket;
  /** Bytes handed to ws whose send has not completed. */
  #inFlight = 0;
  #drains: (() => void)[] = [];

  constructor(ws: WebSocket, req: IncomingMessage, listener: string) {
    this.#ws = ws;
    this.listener = listener;
    this.remoteAddress = req.socket.remoteAddress;
    this.remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
  }

  get writableLength(): number {
    return this.#inFlight;
  }

  open(events: LinkEvents): void {
    this.#ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) events.data(data);
      else this.#ws.close(UNSUPPORTED_DATA, 'binary frames only');
    });
    this.#ws.on('close', () => {
      this.#settle(true);
      events.close(undefined);
    });
    this.#ws.on('error', () => {});
  }

  write(data: string | Buffer): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (bytes.length === 0) return;
    this.#inFlight += bytes.length;
    this.#ws.send(bytes, { binary: true }, () => {
      this.#inFlight -= bytes.length;
      this.#settle(false);
    });
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
