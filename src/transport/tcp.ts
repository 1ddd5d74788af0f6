/**
 * Plain TCP: a listener that makes a Link of every socket. A TLS listener
 * makes the same Links of its TLS sockets.
 *
 * A peer that is gone must not hold its place (`who`, --max-connections,
 * a `recv` of a quiet topic): TCP keepalive finds a host that vanished,
 * and a socket whose client half-closed is probed every second. A client
 * process that died left its side closed: once the kernel gives up on it
 * (at once for a reset, after tcp_fin_timeout for an orderly close) the
 * keepalive probe is answered with a reset, and a write of nothing
 * surfaces that error, since Node reads no more from a socket after its
 * end. A live half-closed client (`nc -N`) answers the probes and stays.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { Refusal } from '../protocol/events.js';
import type { LineDoor, Link, LinkEvents, Seats } from './link.js';

/** What the daemon's settings say about its sockets (as they are now: SIGHUP may change them). */
export interface SocketSettings {
  /** TCP keepalive's idle time, in ms; 0: no keepalive, and no probing after a half-close. */
  readonly keepaliveMs: number;
}

/** How often a half-closed socket is probed, and its keepalive idle time then. */
const HALF_CLOSED_PROBE_MS = 1000;
const EMPTY = Buffer.alloc(0);

export class SocketLink implements Link {
  readonly listener: string;
  readonly remoteAddress: string | undefined;
  readonly remote: string;
  readonly #socket: Socket;
  readonly #settings: SocketSettings;

  constructor(socket: Socket, listener: string, settings: SocketSettings) {
    this.#socket = socket;
    this.#settings = settings;
    this.listener = listener;
    this.remoteAddress = socket.remoteAddress;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (settings.keepaliveMs > 0) socket.setKeepAlive(true, settings.keepaliveMs);
  }

  get writableLength(): number {
    return this.#socket.writableLength;
  }

  open(events: LinkEvents): void {
    let failure: string | undefined;
    let probe: NodeJS.Timeout | undefined;
    this.#socket.on('data', (chunk: Buffer) => events.data(chunk));
    this.#socket.on('end', () => {
      probe = this.#probeHalfClosed();
      events.end();
    });
    this.#socket.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error.code ?? error.message;
    });
    this.#socket.on('close', () => {
      clearInterval(probe);
      events.close(failure);
    });
  }

  /** See the file's comment: a half-closed peer is checked every second. */
  #probeHalfClosed(): NodeJS.Timeout | undefined {
    if (this.#settings.keepaliveMs <= 0) return undefined;
    const socket = this.#socket;
    socket.setKeepAlive(true, HALF_CLOSED_PROBE_MS);
    return setInterval(() => {
      if (!socket.destroyed) socket.write(EMPTY);
    }, HALF_CLOSED_PROBE_MS).unref();
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

/** Takes a place for `socket` (given back when it closes), or returns the refusal when there is none. */
export function seat(socket: Socket, seats: Seats): Refusal | undefined {
  const taken = seats.take(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
  if (!('release' in taken)) return taken;
  socket.once('close', () => taken.release());
  return undefined;
}

/**
 * Listens on host:port, or on an already-listening file descriptor
 * (systemd socket activation), and hands every connection over as a Link
 * of the listener `name` (`tcp`; `mqtt` for MQTT's).
 */
export function listenTcp(where: number | { host: string; port: number }, door: LineDoor, settings: SocketSettings, name = 'tcp'): Promise<Listener> {
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    const link = new SocketLink(socket, name, settings);
    const refusal = seat(socket, door);
    if (refusal === undefined) door.accept(link);
    else door.refuse(link, refusal);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(typeof where === 'number' ? { fd: where } : where, () => {
      server.off('error', reject);
      resolve({
        name,
        address: () => server.address() as AddressInfo,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
