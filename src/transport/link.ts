/**
 * What a transport of lines implements: a byte stream to one client. TCP
 * and TLS sockets, WebSockets and test doubles are Links; a session never
 * sees what is underneath. A door that is not lines (the web's /t/ routes)
 * is no Link: it gets the bus's typed events (protocol/events.ts) and
 * writes its output to a Sink.
 */
import type { Refusal } from '../protocol/events.js';

export interface LinkEvents {
  /** Bytes from the client, in order. */
  data(chunk: Buffer): void;
  /** The client will send nothing more (a half-close). */
  end(): void;
  /** The link is closed both ways; `error` if it failed. */
  close(error: string | undefined): void;
}

/** Where a connection's output goes: the writing half of a Link, or an HTTP response. */
export interface Sink {
  /** Bytes written but not yet taken by the peer's side of the transport. */
  readonly writableLength: number;
  /** Queues text (whole LF-terminated lines), or raw bytes, for the peer. */
  write(data: string | Buffer): void;
  /** Queues pieces, in order, as one write where the transport can (one system call, no copy). */
  writev(pieces: readonly (string | Buffer)[]): void;
  /** Resolves once what was written has drained, or the sink closed. */
  drained(): Promise<void>;
  /** Half-closes after what was written has gone out. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
}

export interface Link extends Sink {
  /** Which listener it came through: `tcp`, `tls`, `ws`. */
  readonly listener: string;
  /** The peer's IP address, if known (open mode allows loopback only). */
  readonly remoteAddress: string | undefined;
  /** `address:port`, for logs. */
  readonly remote: string;
  /** Logged in by the transport already (WebSocket credentials), if so. */
  readonly user?: string | undefined;
  /** Starts the flow of events; called once, by the session. */
  open(events: LinkEvents): void;
  /** Stops and restarts the `data` events (input backpressure). */
  pause(): void;
  resume(): void;
}

/** A socket's place among the daemon's connections (--max-connections), from its accept to its close. */
export interface Seat {
  /** Gives the place back; again does nothing. */
  release(): void;
}

/**
 * The daemon's count of connections, which every listener asks for a
 * place for each socket it accepts, before a byte is read (a TLS
 * handshake, an HTTP request) and whatever the socket becomes.
 */
export interface Seats {
  /** A place for a socket from `remote`, or the refusal when the daemon is full. */
  take(remote: string): Seat | Refusal;
}

/** Where a listener of lines hands its sockets over (the server's registry). */
export interface LineDoor extends Seats {
  /** A Link on a socket that has its place. */
  accept(link: Link): void;
  /** A Link refused at the door: one line saying why, then closed. */
  refuse(link: Link, refusal: Refusal): void;
}
