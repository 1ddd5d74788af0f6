/**
 * TLS (CLI.md, "Listeners, TLS and the web"): the same protocol over
 * node:tls, TLS 1.2 at least. A TLS socket is a net.Socket, so its Link is
 * tcp.ts's. Certificates are files, re-read on reload; a bad set is
 * reported and the old one kept.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, createServer } from 'node:tls';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { FatalError } from '../protocol/errors.js';
import type { Link } from './link.js';
import { SocketLink } from './tcp.js';
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

/** A connection that has not finished its handshake by then is dropped. */
const HANDSHAKE_MS = 10_000;

/** A TLS listener whose Links are of the listener `name` (`tls`; `mqtt-tls` for MQTT's). */
export function listenTls(where: { host: string; port: number }, files: TlsFiles, onLink: (link: Link) => void, settings: SocketSettings, name = 'tls'): Promise<TlsListener> {
  const verify = files.verify === true;
  let context: SecureContextOptions;
  try {
    context = secureContext(files);
    createSecureContext(context);
  } catch (error) {
    return Promise.reject(new FatalError(`TLS: cannot use ${files.cert} and ${files.key}${files.ca ? ` (CA ${files.ca})` : ''}: ${(error as Error).message}`));
  }
  // Sockets still in their handshake, by address:port. A client that gives
  // up on the handshake leaves a half-open server socket behind, which
  // would hold up the close at stop.
  const handshaking = new Map<string, Socket>();
  const key = (socket: Socket): string => `${socket.remoteAddress}:${socket.remotePort}`;
  const server = createServer({ ...context, allowHalfOpen: true, requestCert: verify, rejectUnauthorized: verify, handshakeTimeout: HANDSHAKE_MS }, (socket: TLSSocket) => {
    handshaking.delete(key(socket));
    socket.setNoDelay(true);
    onLink(new SocketLink(socket, name, settings));
  });
  server.on('connection', (raw: Socket) => {
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
