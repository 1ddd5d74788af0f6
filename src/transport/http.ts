/**
 * The web listener (WEB.md): HTTP or HTTPS, a handful of routes on
 * node:http (no framework needed for these), WebSocket upgrades through
 * `ws` in noServer mode so credentials are checked before the upgrade.
 * A WebSocket carries the line protocol: it becomes a Link. A stream, poll
 * or POST of /t/ is read here into a request of its own and handed to the
 * web door (web/), which answers it from the bus's typed events.
 *
 * Its sockets hold places among the daemon's connections, in time, one
 * request at a time (http-sockets.ts); Host and Origin are checked first
 * (http-guard.ts).
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { WebSocketServer } from 'ws';
import { FatalError } from '../protocol/errors.js';
import type { ProtocolError } from '../protocol/errors.js';
import { isLoopback } from '../util/loopback.js';
import { GUARD_HEADERS, HttpError, HttpGuard, rawRefusal, refusalHead } from './http-guard.js';
import { HttpSockets, timeouts } from './http-sockets.js';
import type { Link, Seats } from './link.js';
import type { Listener } from './tcp.js';
import { HANDSHAKE_MS, refuseRenegotiation, serverContext } from './tls.js';
import type { TlsFiles } from './tls.js';
import { WsLink } from './ws.js';
import { BinaryWsLink } from './ws-binary.js';

export type Format = 'plain' | 'sse' | 'json';

/** Who made an HTTP request, logged in. */
export interface WebClient {
  readonly res: ServerResponse;
  readonly user: string;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
}

/** `GET /t/<pattern>`: a stream, or with `?poll=1` a replay. */
export interface ReceiveRequest extends WebClient {
  readonly format: Format;
  readonly pattern: string;
  /** `since` or `last` and its value, as given; none: live only (a poll: the last 100). */
  readonly start: readonly [word: 'since' | 'last', value: string] | undefined;
  /** The journal only, then the end of the response. */
  readonly poll: boolean;
}

/** `POST /t/<topic>`: each line of the body one message. */
export interface PostRequest extends WebClient {
  readonly topic: string;
  /** The body as it comes, read with backpressure (the socket waits while it is not read). */
  readonly body: AsyncIterable<Buffer>;
  /** Its Content-Length, if it gave one. */
  readonly declaredBytes: number | undefined;
  /** The ids as a JSON array, if all went through. */
  readonly json: boolean;
}

/** Who asks to log in, for the decision and the log. */
export interface WebCaller {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
}

export interface WebServices {
  /** A WebSocket: a Link of the line protocol. */
  accept(link: Link): void;
  /** A WebSocket of `/mqtt`: a Link of MQTT's packets. */
  acceptMqtt(link: Link): void;
  receive(request: ReceiveRequest): void;
  post(request: PostRequest): void;
  login(caller: WebCaller, user: string, password: string): Promise<ProtocolError | undefined>;
  /** No users: loopback clients need no credentials. */
  readonly open: boolean;
  metrics(): Promise<{ contentType: string; text: string }>;
  healthy(): boolean;
  /** The console page and its Content-Security-Policy. */
  consolePage(): { readonly html: string; readonly csp: string };
  /** A place for each socket, from its accept (--max-connections). */
  readonly seats: Seats;
  /** As they are now (SIGHUP may change them), in seconds. */
  readonly limits: { readonly loginTimeout: number; readonly httpBodyTimeout: number };
}

export interface HttpOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsFiles | undefined;
  /** Origins allowed besides the listener's own (--http-origin). */
  readonly origins: readonly string[];
  /** Names of the listener besides its address and, on loopback, localhost (--http-host-name). */
  readonly hostNames: readonly string[];
  /** /metrics answers without credentials (--metrics-open). */
  readonly metricsOpen: boolean;
  /** HTTPS: a connection still in its TLS handshake then is closed (HANDSHAKE_MS). */
  readonly handshakeMs?: number | undefined;
}

/** A WebSocket frame may hold many lines, up to this many bytes. */
const MAX_FRAME = 1 << 20;
/** MQTT's WebSocket subprotocols, preferred first (MQTT.md, "Listeners"; Paho sends mqttv3.1 for MQTT 3.1). */
const MQTT_PROTOCOLS = ['mqtt', 'mqttv3.1'];
/** Printable and no spaces: what may go into a command line. */
const WORD = /^[^\s\p{Cc}]+$/u;

function credentials(req: IncomingMessage, url: URL): [string, string] | undefined {
  const header = req.headers.authorization ?? '';
  const [scheme = '', value = ''] = header.split(' ', 2);
  let pair: string | undefined;
  if (/^basic$/i.test(scheme)) pair = Buffer.from(value, 'base64').toString('utf8');
  else if (/^bearer$/i.test(scheme)) pair = value;
  else if (url.searchParams.has('auth')) pair = Buffer.from(url.searchParams.get('auth') as string, 'base64').toString('utf8');
  if (pair === undefined) return undefined;
  const colon = pair.indexOf(':');
  if (colon < 1) throw new HttpError(401, 'credentials are user:password (Basic, Bearer or ?auth=<base64>)');
  return [pair.slice(0, colon), pair.slice(colon + 1)];
}

export class HttpListener implements Listener {
  readonly name = 'http';
  readonly #server: Server;
  readonly #web: WebServices;
  readonly #options: HttpOptions;
  readonly #wss: WebSocketServer;
  readonly #mqttWss: WebSocketServer;
  readonly #guard: HttpGuard;
  readonly #sockets: HttpSockets;

  private constructor(server: Server, web: WebServices, options: HttpOptions, wss: WebSocketServer, mqttWss: WebSocketServer) {
    this.#server = server;
    this.#wss = wss;
    this.#mqttWss = mqttWss;
    this.#web = web;
    this.#options = options;
    this.#guard = new HttpGuard(options.tls ? 'https' : 'http', options.hostNames, options.origins);
    this.#sockets = new HttpSockets(server, web.seats, web.limits, options.tls !== undefined);
    const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
      this.#request(req, res, expectsContinue).catch((error: unknown) => this.#refuse(req, res, error));
    };
    server.on('request', (req: IncomingMessage, res: ServerResponse) => handle(req, res, false));
    // A client that waits for 100 Continue is told only once its body is
    // read: one refused before (413, 401) never sends it.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => {});
      this.#upgrade(req, socket, head).catch((error: unknown) => {
        socket.end(rawRefusal(error instanceof HttpError ? error.status : 500, (error as Error).message));
      });
    });
  }

  static async listen(options: HttpOptions, web: WebServices): Promise<HttpListener> {
    // Loaded only by a daemon with a web listener.
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
    const mqttWss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, handleProtocols: (offered) => MQTT_PROTOCOLS.find((protocol) => offered.has(protocol)) ?? false });
    const inTime = timeouts(web.limits);
    let server: Server;
    try {
      server = options.tls ? createHttpsServer({ ...serverContext(options.tls), handshakeTimeout: options.handshakeMs ?? HANDSHAKE_MS, ...inTime }) : createHttpServer(inTime);
    } catch (error) {
      throw new FatalError(`HTTPS: cannot use ${options.tls?.cert} and ${options.tls?.key}${options.tls?.ca ? ` (CA ${options.tls.ca})` : ''}: ${(error as Error).message}`);
    }
    if (options.tls) server.on('secureConnection', refuseRenegotiation);
    const listener = new HttpListener(server, web, options, wss, mqttWss);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off('error', reject);
        resolve(listener);
      });
    });
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** Stops accepting and closes the sockets between requests; resolves once every socket is gone. */
  close(): Promise<void> {
    return new Promise((done) => {
      this.#server.close(() => done());
      this.#server.closeIdleConnections();
    });
  }

  /** Closes every socket left (after the connections were told the server stops). */
  dropAll(): void {
    this.#server.closeAllConnections();
  }

  /** Re-reads the HTTPS certificate and key; throws, keeping the old ones, if they are bad. */
  reload(): void {
    if (this.#options.tls) (this.#server as import('node:https').Server).setSecureContext(serverContext(this.#options.tls));
  }

  async #request(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    this.#sockets.checkRefused(req.socket);
    const url = new URL(req.url ?? '/', 'http://linebus');
    const route = url.pathname;
    const method = req.method ?? 'GET';
    if (route === '/' || route === '/healthz' || route === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${route} answers GET only`);
      // /healthz says nothing but ok: load balancers and probes may ask it by any name.
      if (route === '/healthz') return this.#web.healthy() ? this.#send(res, 200, 'text/plain', 'ok\n') : this.#send(res, 503, 'text/plain', 'the journal does not commit\n');
      this.#guard.check(req);
      if (route === '/') {
        const { html, csp } = this.#web.consolePage();
        return this.#send(res, 200, 'text/html; charset=utf-8', html, { 'Content-Security-Policy': csp });
      }
      if (!this.#options.metricsOpen) await this.#user(req, url);
      const { contentType, text } = await this.#web.metrics();
      return this.#send(res, 200, contentType, text);
    }
    this.#guard.check(req);
    if (route === '/ws' || route === '/mqtt') throw new HttpError(426, `${route} is a WebSocket: connect with an Upgrade request`);
    if (!route.startsWith('/t/')) throw new HttpError(404, 'no such path; try /t/<topic>, /ws, /mqtt, /metrics, /healthz or /');
    let name: string;
    try {
      name = decodeURIComponent(route.slice(3));
    } catch {
      throw new HttpError(400, 'the topic is not valid percent-encoding');
    }
    if (!WORD.test(name)) throw new HttpError(400, 'a topic or pattern has no spaces or control characters; give one after /t/');
    if (method !== 'POST' && method !== 'GET') throw new HttpError(405, `/t/<topic> takes GET (receive) and POST (send), not ${method}`);
    this.#sockets.oneAtATime(req.socket, res);
    const client = await this.#client(req, res, url);
    if (method === 'POST') {
      const declared = req.headers['content-length'];
      const body: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: () => {
          if (expectsContinue) res.writeContinue();
          return req[Symbol.asyncIterator]();
        },
      };
      this.#web.post({ ...client, topic: name, body, declaredBytes: declared === undefined ? undefined : Number(declared), json: (req.headers.accept ?? '').includes('application/json') });
      return;
    }
    const accept = req.headers.accept ?? '';
    const format: Format = accept.includes('text/event-stream') ? 'sse' : url.searchParams.get('format') === 'json' ? 'json' : 'plain';
    this.#web.receive({ ...client, format, pattern: name, start: this.#start(req, url), poll: url.searchParams.get('poll') === '1' });
  }

  async #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    this.#sockets.checkRefused(socket);
    const url = new URL(req.url ?? '/', 'http://linebus');
    if (url.pathname !== '/ws' && url.pathname !== '/mqtt') throw new HttpError(404, 'WebSocket connections go to /ws (lines) or /mqtt (MQTT)');
    this.#guard.check(req);
    if (url.pathname === '/mqtt') return this.#upgradeMqtt(req, socket, head);
    // Credentials are optional here: the client may send `login` itself.
    const given = credentials(req, url);
    const user = given ? await this.#login(req, given) : undefined;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#web.accept(new WsLink(ws, req, user)));
  }

  /** MQTT over WebSocket: credentials come in its CONNECT, not in HTTP headers. */
  #upgradeMqtt(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim());
    if (!MQTT_PROTOCOLS.some((protocol) => offered.includes(protocol))) throw new HttpError(400, 'MQTT over WebSocket needs the subprotocol mqtt (or mqttv3.1)');
    this.#mqttWss.handleUpgrade(req, socket, head, (ws) => this.#web.acceptMqtt(new BinaryWsLink(ws, req, 'mqtt-ws')));
  }

  /** `since` (or an EventSource's Last-Event-ID) or `last`, as recv takes them. */
  #start(req: IncomingMessage, url: URL): ReceiveRequest['start'] {
    const lastEventId = req.headers['last-event-id'];
    const since = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : url.searchParams.get('since');
    const last = url.searchParams.get('last');
    const start = since !== null ? (['since', since] as const) : last !== null ? (['last', last] as const) : undefined;
    if (start !== undefined && !WORD.test(start[1])) throw new HttpError(400, `${start[0]}= takes an id, a duration or a time, with no spaces`);
    return start;
  }

  /** The client of a request of /t/, logged in. */
  async #client(req: IncomingMessage, res: ServerResponse, url: URL): Promise<WebClient> {
    return { res, user: await this.#user(req, url), remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`, remoteAddress: req.socket.remoteAddress };
  }

  async #user(req: IncomingMessage, url: URL): Promise<string> {
    const given = credentials(req, url);
    if (given) return this.#login(req, given);
    if (this.#web.open && isLoopback(req.socket.remoteAddress)) return 'anonymous';
    throw new HttpError(401, 'log in: Basic, Bearer user:password, or ?auth=<base64 of user:password>');
  }

  async #login(req: IncomingMessage, [user, password]: [string, string]): Promise<string> {
    const caller = { id: 0, remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`, remoteAddress: req.socket.remoteAddress };
    const refusal = await this.#web.login(caller, user, password);
    if (refusal) throw new HttpError(401, refusal.message);
    return user;
  }

  #send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { ...GUARD_HEADERS, 'Content-Type': type, ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  /**
   * Routes throw before anything is written; a connection of the web door
   * takes over the response after. A refusal before a body was read
   * closes the connection: what is left of the body is not read.
   */
  #refuse(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    const status = error instanceof HttpError ? error.status : 500;
    const close = (error instanceof HttpError && error.close) || !req.complete;
    res.writeHead(status, refusalHead(status, close));
    res.end(`${error instanceof HttpError ? error.message : 'the server could not answer that; try again'}\n`);
  }
}
