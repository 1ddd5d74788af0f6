/**
 * Where and how the client connects: options or a `linebus://` URL, read
 * once into an Endpoint. Messages name the endpoint by `host:port` only:
 * the URL can hold a password, and no message ever shows it.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { LinebusError } from './errors.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  /** TLS, with node:tls options (`ca`, `cert`, `key`, `servername`) or just `true`. */
  tls?: boolean | TlsOptions;
  /**
   * `linebus://user:password@host:port`, or `linebuss://` for TLS. What it
   * names wins over `host`, `port`, `user` and `password`; `tls` options
   * still apply to a `linebuss://` URL.
   */
  url?: string;
  /** Connect again after a drop (default true); waits this long first (default 200 ms), doubling to 10 s. -1: never. */
  retryMs?: number;
  /** How long connecting and the server's greeting may take (default 10 s). */
  connectTimeoutMs?: number;
  /** Messages and jobs carry their commit time (`ts`), where the server can say it (`tags ts`). */
  stamped?: boolean;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  /** node:tls options, or undefined for plain TCP. */
  readonly tls: TlsOptions | undefined;
  /** Ask for `tags ts` after the login. */
  readonly stamped: boolean;
  /** `host:port` (`[::1]:7667`), for messages. */
  readonly where: string;
}

const USAGE = 'use linebus://user:password@host:port (linebuss:// for TLS)';

interface FromUrl {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  tls: boolean;
}

function decode(text: string): string | undefined {
  if (text === '') return undefined;
  try {
    return decodeURIComponent(text);
  } catch {
    throw new LinebusError('syntax', `the URL's user or password is badly %-encoded; ${USAGE}`);
  }
}

/** Reads a URL; its errors never repeat it, since it may hold a password. */
export function parseUrl(url: string): FromUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LinebusError('syntax', `the URL is not one; ${USAGE}`);
  }
  if (parsed.protocol !== 'linebus:' && parsed.protocol !== 'linebuss:') throw new LinebusError('syntax', `a ${parsed.protocol}// URL; ${USAGE}`);
  const fromUrl: FromUrl = { tls: parsed.protocol === 'linebuss:' };
  // An IPv6 address comes bracketed: [::1].
  if (parsed.hostname !== '') fromUrl.host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (parsed.port !== '') fromUrl.port = Number(parsed.port);
  const user = decode(parsed.username);
  const password = decode(parsed.password);
  if (user !== undefined) fromUrl.user = user;
  if (password !== undefined) fromUrl.password = password;
  return fromUrl;
}

/**
 * The node:tls options for `host`: `servername` (SNI, and the name the
 * certificate must carry) only for a name, since Node warns (DEP0123) when
 * it is an IP address; then an IP address is checked against the
 * certificate's IP entries.
 */
export function tlsOptions(host: string, given: TlsOptions): TlsOptions {
  return isIP(host) === 0 ? { servername: host, ...given } : given;
}

export function endpoint(options: ConnectOptions): Endpoint {
  const url = options.url === undefined ? { tls: false } : parseUrl(options.url);
  const host = url.host ?? options.host ?? '127.0.0.1';
  const port = url.port ?? options.port ?? 7667;
  const tls = url.tls || (options.tls !== undefined && options.tls !== false) ? tlsOptions(host, typeof options.tls === 'object' ? options.tls : {}) : undefined;
  return {
    host,
    port,
    user: url.user ?? options.user ?? process.env.USER ?? 'linebus',
    password: url.password ?? options.password,
    tls,
    stamped: options.stamped === true,
    where: `${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
  };
}
