/**
 * TLS (CLI.md, "Listeners, TLS and the web"): the same protocol over
 * node:tls, TLS 1.2 at least. A TLS socket is a net.Socket, so its Link is
 * tcp.ts's. Certificates are files, re-read on reload; a bad set is
 * reported and the old one kept.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, createServer } from 'node:tls';
import type { SecureContextOptions, TlsOptions, TLSSocket } from 'node:tls';
import { FatalError } from '../protocol/errors.js';
import type { LineDoor } from './link.js';
import { seat, SocketLink } from './tcp.js';
import type { Listener, SocketSettings } from './tcp.js';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** With `verify`: clients must show a certificate signed by this CA. */
  readonly ca?: string | undefined;
  readonly verify?: boolean | undefined;
}

export interface TlsListener extends Listener {
  /** Re-reads the files; throws (and keeps the old ones) if they do not make a context. */
  reload(): void;
}

/** The files' contents, for a context (TLS and HTTPS listeners alike). */
export function secureContext(files: TlsFiles): SecureContextOptions {
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ...(files.ca === undefined ? {} : { ca: readFileSync(files.ca) }),
    minVersion: 'TLSv1.2',
  };
}

/** A server's options: the files', and with `verify` a certificate from each client. */
export function serverContext(files: TlsFiles): TlsOptions {
  const verify = files.verify === true;
  return { ...secureContext(files), requestCert: verify, rejectUnauthorized: verify };
}

/**
 * A client's TLS 1.2 renegotiation makes the server do a handshake's work
 * again, as often as it likes; no linebus client needs one. Node reports
 * the attempt as an error of the socket and goes on: the socket is closed.
 */
export function refuseRenegotiation(socket: TLSSocket): void {
  socket.disableRenegotiation();
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ERR_TLS_RENEGOTIATION_DISABLED') socket.destroy();
  });
}

/** A connection that has not finished its handshake by then is dropped (every TLS door: lines, MQTT, HTTPS). */
export const HANDSHAKE_MS = 10_000;

/** A TLS listener whose Links are of the listener `name` (`tls`; `mqtt-tls` for MQTT's). */
export function listenTls(where: { host: string; port: number }, files: TlsFiles, door: LineDoor, settings: SocketSettings, name = 'tls', handshakeMs = HANDSHAKE_MS): Promise<TlsListener> {
  let context: TlsOptions;
  try {
    context = serverContext(files);
    createSecureContext(context);
  } catch (error) {
    return Promise.reject(new FatalError(`TLS: cannot use ${files.cert} and ${files.key}${files.ca ? ` (CA ${files.ca})` : ''}: ${(error as Error).message}`));
  }
  // Sockets still in their handshake, by address:port: a stop closes them.
  const handshaking = new Map<string, Socket>();
  const key = (socket: Socket): string => `${socket.remoteAddress}:${socket.remotePort}`;
  // Half-open (PROTOCOL.md: replies still go out after the client's FIN)
  // only once secure: a client that closes its side in the handshake will
  // never finish it, and is closed at once, its place given back.
  const server = createServer({ ...context, allowHalfOpen: false, handshakeTimeout: handshakeMs }, (socket: TLSSocket) => {
    handshaking.delete(key(socket));
    refuseRenegotiation(socket);
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    door.accept(new SocketLink(socket, name, settings));
  });
  // A place from the accept on, handshake or not; a client over the limit
  // is closed before its handshake: a full daemon spends none on it.
  server.on('connection', (raw: Socket) => {
    if (seat(raw, door) !== undefined) {
      raw.destroy();
      return;
    }
    const peer = key(raw);
    handshaking.set(peer, raw);
    raw.once('close', () => {
      if (handshaking.get(peer) === raw) handshaking.delete(peer);
    });
  });
  server.on('tlsClientError', (_error, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolve({
        name,
        address: () => server.address() as AddressInfo,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            for (const raw of handshaking.values()) raw.destroy();
          }),
        reload: () => server.setSecureContext(secureContext(files)),
      });
    });
  });
}
