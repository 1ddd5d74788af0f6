/**
 * Plain TCP: a listener that makes a Link of every socket. A TLS listener
 * makes the same Links of its TLS sockets.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { Link, LinkEvents } from './link.js';

export class SocketLink implements Link {
  readonly listener: string;
  readonly remoteAddress: string | undefined;
  readonly remote: string;
  readonly #socket: Socket;

  constructor(socket: Socket, listener: string) {
    this.#socket = socket;
    this.listener = listener;
    this.remoteAddress = socket.remoteAddress;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  }

  get writableLength(): number {
    return this.#socket.writableLength;
  }

  open(events: LinkEvents): void {
    let failure: string | undefined;
    this.#socket.on('data', (chunk: Buffer) => events.data(chunk));
    this.#socket.on('end', () => events.end());
    this.#socket.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error.code ?? error.message;
    });
    this.#socket.on('close', () => events.close(failure));
  }

  write(data: string | Buffer): void {
    if (!this.#socket.destroyed) this.#socket.write(data);
  }

  writev(pieces: readonly (string | Buffer)[]): void {
    if (this.#socket.destroyed) return;
    // Corked, the pieces go to the kernel in one writev(2).
    this.#socket.cork();
    for (const piece of pieces) this.#socket.write(piece);
    this.#socket.uncork();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  drained(): Promise<void> {
    return drained(this.#socket);
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** Resolves once `stream` has written what it holds, or closed. */
export function drained(stream: Writable): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

export interface Listener {
  readonly name: string;
  address(): AddressInfo;
  /** Stops accepting; resolves once the listening socket is closed. */
  close(): Promise<void>;
}

/**
 * Listens on host:port, or on an already-listening file descriptor
 * (systemd socket activation), and hands every connection over as a Link.
 */
export function listenTcp(where: number | { host: string; port: number }, onLink: (link: Link) => void): Promise<Listener> {
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => onLink(new SocketLink(socket, 'tcp')));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(typeof where === 'number' ? { fd: where } : where, () => {
      server.off('error', reject);
      resolve({
        name: 'tcp',
        address: () => server.address() as AddressInfo,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
