/**
 * Helpers of the web tests: a daemon with its web listener, and requests
 * made with node:http, which sends the headers it is given (a Host of
 * another name, an Origin) as they are.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { startServer } from './helpers.js';
import type { Started, Teardown } from './helpers.js';

export interface Web extends Started {
  /** The web listener's port. */
  readonly httpPort: number;
  readonly base: string;
}

export async function web(t: Teardown, options: Parameters<typeof startServer>[1] = {}): Promise<Web> {
  const started = await startServer(t, { http: { port: 0 }, ...options });
  const httpPort = (started.server.httpAddress() as { port: number }).port;
  return { ...started, httpPort, base: `http://127.0.0.1:${httpPort}` };
}

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** One request to 127.0.0.1:`port`, its whole answer; `tls` options make it HTTPS. */
export function call(port: number, path: string, options: RequestOptions & { body?: string | Buffer; tls?: boolean } = {}): Promise<Answer> {
  const { body, tls, ...rest } = options;
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)({ host: '127.0.0.1', port, path, agent: false, ...rest }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
