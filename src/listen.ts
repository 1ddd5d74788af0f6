/**
 * Opens the daemon's listeners: TCP (or the socket systemd passed), and
 * TLS and the web when asked for. A port in use stops start-up with one
 * line naming it and its option; what was opened before is closed again.
 */
import { DEFAULTS } from './limits.js';
import { FatalError } from './protocol/errors.js';
import { HttpListener } from './transport/http.js';
import type { WebServices } from './transport/http.js';
import type { LineDoor } from './transport/link.js';
import { listenTcp } from './transport/tcp.js';
import type { Listener, SocketSettings } from './transport/tcp.js';
import { listenTls } from './transport/tls.js';
import type { TlsFiles, TlsListener } from './transport/tls.js';

export interface ListenOptions {
  host?: string | undefined;
  port?: number | undefined;
  /** An already-listening file descriptor (systemd socket activation: 3). */
  listenFd?: number | undefined;
  /** A TLS listener too (--tls-port), on `host` unless it says otherwise. */
  tls?: (TlsFiles & { port: number; host?: string | undefined }) | undefined;
  /** The web listener (--http-port); HTTPS with `tls` files. */
  http?: { port: number; host?: string | undefined; tls?: TlsFiles | undefined; origins?: readonly string[] | undefined; hostNames?: readonly string[] | undefined; metricsOpen?: boolean | undefined } | undefined;
}

export interface Listening {
  readonly tcp: Listener;
  readonly tls: TlsListener | undefined;
  readonly http: HttpListener | undefined;
}

export async function listenAll(options: ListenOptions, door: LineDoor, web: WebServices, sockets: SocketSettings): Promise<Listening> {
  const host = options.host ?? DEFAULTS.host;
  const where = options.listenFd ?? { host, port: options.port ?? DEFAULTS.port };
  const opened: Listener[] = [];
  let place = typeof where === 'number' ? `fd ${where}` : `${where.host}:${where.port}`;
  let option = '--port';
  try {
    const tcp = await listenTcp(where, door, sockets);
    opened.push(tcp);
    let tls: TlsListener | undefined;
    if (options.tls) {
      [place, option] = [`${options.tls.host ?? host}:${options.tls.port}`, '--tls-port'];
      tls = await listenTls({ host: options.tls.host ?? host, port: options.tls.port }, options.tls, door, sockets);
      opened.push(tls);
    }
    let http: HttpListener | undefined;
    if (options.http) {
      const { port, tls: files, origins = [], hostNames = [], metricsOpen = false } = options.http;
      [place, option] = [`${options.http.host ?? host}:${port}`, '--http-port'];
      http = await HttpListener.listen({ host: options.http.host ?? host, port, tls: files, origins, hostNames, metricsOpen }, web);
    }
    return { tcp, tls, http };
  } catch (error) {
    await Promise.all(opened.map((listener) => listener.close()));
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new FatalError(`${place} is in use (EADDRINUSE); is a linebus serve running already? Stop it, or give another ${option}`);
  }
}

/** Stops accepting; resolves once every socket has closed (see HttpListener.dropAll). */
export function closeAll(listening: Listening): Promise<unknown> {
  return Promise.all([listening.tcp.close(), listening.tls?.close(), listening.http?.close()]);
}
