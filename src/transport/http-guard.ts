/**
 * Which requests the web listener takes from a browser (WEB.md, "Rules").
 * The Host header must name the listener itself: the address the client
 * reached, localhost when that is loopback, a name of --http-host-name, or
 * the host of an --http-origin. A page of another site whose name was made
 * to resolve here (DNS rebinding) sends its own name, and is refused. An
 * Origin, when a browser sends one, must be the listener's own (its scheme
 * and that Host) or one of --http-origin, so that no page elsewhere can
 * post or read with the user's cached credentials (CSRF).
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { isLoopback } from '../util/loopback.js';

/** A request refused before anything was written: its status, the one line saying why, and whether its connection ends. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly close = false,
  ) {
    super(message);
  }
}

/** Headers of every answer: nothing here may be framed, sniffed or cached. */
export const GUARD_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
};

/** The headers of a refused request's answer (its one line is plain text). */
export function refusalHead(status: number, close: boolean): Record<string, string> {
  const headers: Record<string, string> = { ...GUARD_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' };
  if (status === 401) headers['WWW-Authenticate'] = 'Basic realm="linebus"';
  if (close) headers.Connection = 'close';
  return headers;
}

/** A refusal written straight to a socket that has no response object (an upgrade, a request Node could not parse), closing it. */
export function rawRefusal(status: number, line: string): string {
  const headers = Object.entries(refusalHead(status, true)).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\n${headers}\r\n${line}\n`;
}

/** The name in a Host header or a URL's host, lower case, without its port or an IPv6 address's brackets. */
export function hostName(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return lower.slice(1, end < 0 ? undefined : end);
  }
  const colon = lower.lastIndexOf(':');
  return colon >= 0 && /^\d*$/.test(lower.slice(colon + 1)) ? lower.slice(0, colon) : lower;
}

/** An IPv4 address as a dual-stack socket gives it (::ffff:127.0.0.1) is that IPv4 address. */
function plainAddress(address: string | undefined): string {
  return (address ?? '').toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
}

export class HttpGuard {
  readonly #scheme: 'http' | 'https';
  readonly #names: ReadonlySet<string>;
  readonly #origins: ReadonlySet<string>;

  /** `names`: --http-host-name; `origins`: --http-origin, whose hosts are names of the listener too. */
  constructor(scheme: 'http' | 'https', names: readonly string[], origins: readonly string[]) {
    this.#scheme = scheme;
    this.#origins = new Set(origins.map((origin) => origin.toLowerCase()));
    const fromOrigins = origins.flatMap((origin) => (URL.canParse(origin) ? [hostName(new URL(origin).host)] : []));
    this.#names = new Set([...names.map((name) => hostName(name)), ...fromOrigins]);
  }

  /** Throws a 421 unless the Host names this listener, then a 403 unless the Origin is allowed. */
  check(req: IncomingMessage): void {
    const host = req.headers.host;
    // HTTP/1.1 requires a Host (Node refuses a request without one); an
    // HTTP/1.0 client that sends none is no browser.
    if (host === undefined) return;
    const name = hostName(host);
    const local = req.socket.localAddress;
    if (name !== plainAddress(local) && !(name === 'localhost' && isLoopback(local)) && !this.#names.has(name)) {
      throw new HttpError(421, `the Host header names ${name}, which is not a name of this listener; use its address, or the operator may add the name with --http-host-name`);
    }
    const origin = req.headers.origin;
    if (origin === undefined) return;
    const lower = origin.toLowerCase();
    if (lower !== `${this.#scheme}://${host.toLowerCase()}` && !this.#origins.has(lower)) {
      throw new HttpError(403, `origin ${origin} is not allowed; the operator may add it with --http-origin`);
    }
  }
}
