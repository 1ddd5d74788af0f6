/**
 * The connection options of `send`, `recv` and `request`, made into a
 * Client: TLS files read, a password asked for at the terminal, and a
 * failure told as one line that says what to try, never with a password.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Client } from '../client/client.js';
import { endpoint, parseUrl } from '../client/endpoint.js';
import type { ConnectOptions, Endpoint } from '../client/endpoint.js';
import { LinebusError } from '../client/errors.js';
import { FatalError } from '../protocol/errors.js';
import { askPassword } from './prompt.js';

export interface ConnectionFlags {
  host: string;
  port: number;
  user?: string;
  password?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServername?: string;
  url?: string;
  /** Seconds. */
  connectTimeout: number;
}

/** What to try next, by the TLS error's code. */
const TLS_HINTS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "trust the server's certificate with --tls-ca FILE",
  SELF_SIGNED_CERT_IN_CHAIN: 'trust its CA with --tls-ca FILE',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'trust its CA with --tls-ca FILE',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'trust its CA with --tls-ca FILE',
  ERR_TLS_CERT_ALTNAME_INVALID: 'connect by a name the certificate holds, or give it with --tls-servername NAME',
  ERR_SSL_WRONG_VERSION_NUMBER: 'is this a plain port? connect without --tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'is this a plain port? connect without --tls',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server wants a client certificate: --tls-cert FILE --tls-key FILE',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'the server may want a client certificate: --tls-cert FILE --tls-key FILE',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the server's CA did not sign the client certificate",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the server refused the client certificate',
};

function file(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new FatalError(`${option} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The node:tls options the flags ask for; undefined when they ask for none. */
function tlsFlags(flags: ConnectionFlags): TlsOptions | undefined {
  const { tlsCa, tlsCert, tlsKey, tlsServername } = flags;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new FatalError('a client certificate needs both --tls-cert and --tls-key');
  const options: TlsOptions = {};
  if (tlsCa !== undefined) options.ca = file('--tls-ca', tlsCa);
  if (tlsCert !== undefined && tlsKey !== undefined) Object.assign(options, { cert: file('--tls-cert', tlsCert), key: file('--tls-key', tlsKey) });
  if (tlsServername !== undefined) options.servername = tlsServername;
  return Object.keys(options).length > 0 ? options : undefined;
}

/** The failure as one line: the server's `err`, or the socket's error with what to try. */
function explain(error: Error, where: string): FatalError {
  if (error instanceof LinebusError) return new FatalError(error.code === 'closed' ? error.message : `${where}: err ${error.code} ${error.message}`);
  const { code, syscall, reason } = error as NodeJS.ErrnoException & { reason?: string };
  const hint = code === undefined ? undefined : TLS_HINTS[code];
  // A system call's error (ECONNREFUSED) says it all; OpenSSL's has a
  // `reason` short of its whole text; a certificate's, its message.
  const what = syscall !== undefined && code !== undefined ? code : `${reason ?? error.message}${code ? ` (${code})` : ''}`;
  return new FatalError(`cannot reach ${where}: ${what}${hint ? `; ${hint}` : ''}`);
}

function resolve(options: ConnectOptions): Endpoint {
  try {
    return endpoint(options);
  } catch (error) {
    throw new FatalError(`--url: ${(error as Error).message}`);
  }
}

/**
 * Connects and logs in. A user named (--user, LINEBUS_USER or the URL)
 * without a password is asked for one when stdin is a terminal.
 */
/** `stamped`: messages carry their commit time (recv --json). */
export async function open(flags: ConnectionFlags, retry: boolean, stamped = false): Promise<Client> {
  const options: ConnectOptions = { host: flags.host, port: flags.port, retryMs: retry ? 200 : -1, connectTimeoutMs: flags.connectTimeout * 1000, stamped };
  if (flags.user !== undefined) options.user = flags.user;
  if (flags.password !== undefined) options.password = flags.password;
  if (flags.url !== undefined) options.url = flags.url;
  const tls = tlsFlags(flags);
  if (flags.tls || tls) options.tls = tls ?? true;
  const target = resolve(options);
  const named = flags.user !== undefined || (flags.url !== undefined && parseUrl(flags.url).user !== undefined);
  if (named && target.password === undefined && process.stdin.isTTY) options.password = await askPassword(`password for ${target.user} at ${target.where}: `);
  try {
    return await Client.connect(options);
  } catch (error) {
    throw explain(error as Error, target.where);
  }
}
