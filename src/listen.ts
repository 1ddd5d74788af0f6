/**
 * Opens the daemon's listeners: TCP (or the socket systemd passed), and
 * TLS, the web and MQTT's when asked for. A port in use stops start-up with one
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
  /** MQTT over TCP (--mqtt-port), on `host` unless it says otherwise (--mqtt-host). */
  mqtt?: { port: number; host?: string | undefined } | undefined;
  /** MQTT over TLS (--mqtt-tls-port), on `host` unless it says otherwise (--mqtt-host). */
  mqttTls?: (TlsFiles & { port: number; host?: string | undefined }) | undefined;
  /** How long a TLS handshake may take, on every TLS door (HANDSHAKE_MS; tests make it short). */
  handshakeMs?: number | undefined;
}

export interface Listening {
  readonly tcp: Listener;
  readonly tls: TlsListener | undefined;
  readonly http: HttpListener | undefined;
  readonly mqtt: Listener | undefined;
  readonly mqttTls: TlsListener | undefined;
}

/** Where each kind of connection goes: sockets of lines, of MQTT, and the web's requests. */
export interface Doors {
  readonly lines: LineDoor;
  readonly mqtt: LineDoor;
  readonly web: WebServices;
}

export async function listenAll(options: ListenOptions, doors: Doors, sockets: SocketSettings): Promise<Listening> {
  const { lines, mqtt: mqttDoor, web } = doors;
  const host = options.host ?? DEFAULTS.host;
  const where = options.listenFd ?? { host, port: options.port ?? DEFAULTS.port };
  const opened: Listener[] = [];
  let place = typeof where === 'number' ? `fd ${where}` : `${where.host}:${where.port}`;
  let option = '--port';
  try {
    const tcp = await listenTcp(where, lines, sockets);
    opened.push(tcp);
    let tls: TlsListener | undefined;
    if (options.tls) {
      [place, option] = [`${options.tls.host ?? host}:${options.tls.port}`, '--tls-port'];
      tls = await listenTls({ host: options.tls.host ?? host, port: options.tls.port }, options.tls, lines, sockets, 'tls', options.handshakeMs);
      opened.push(tls);
    }
    let http: HttpListener | undefined;
    if (options.http) {
      const { port, tls: files, origins = [], hostNames = [], metricsOpen = false } = options.http;
      [place, option] = [`${options.http.host ?? host}:${port}`, '--http-port'];
      http = await HttpListener.listen({ host: options.http.host ?? host, port, tls: files, origins, hostNames, metricsOpen, handshakeMs: options.handshakeMs }, web);
      opened.push(http);
    }
    let mqtt: Listener | undefined;
    if (options.mqtt) {
      const where = { host: options.mqtt.host ?? host, port: options.mqtt.port };
      [place, option] = [`${where.host}:${where.port}`, '--mqtt-port'];
      mqtt = await listenTcp(where, mqttDoor, sockets, 'mqtt');
      opened.push(mqtt);
    }
    let mqttTls: TlsListener | undefined;
    if (options.mqttTls) {
      const where = { host: options.mqttTls.host ?? host, port: options.mqttTls.port };
      [place, option] = [`${where.host}:${where.port}`, '--mqtt-tls-port'];
      mqttTls = await listenTls(where, options.mqttTls, mqttDoor, sockets, 'mqtt-tls', options.handshakeMs);
    }
    return { tcp, tls, http, mqtt, mqttTls };
  } catch (error) {
    await Promise.all(opened.map((listener) => listener.close()));
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new FatalError(`${place} is in use (EADDRINUSE); is a linebus serve running already? Stop it, or give another ${option}`);
  }
}

/** Stops accepting; resolves once every socket has closed (see HttpListener.dropAll). */
export function closeAll(listening: Listening): Promise<unknown> {
  return Promise.all([listening.tcp.close(), listening.tls?.close(), listening.http?.close(), listening.mqtt?.close(), listening.mqttTls?.close()]);
}
