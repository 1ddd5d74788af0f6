/**
 * What a transport of lines implements: a byte stream to one client. TCP
 * and TLS sockets, WebSockets and test doubles are Links; a session never
 * sees what is underneath. A door that is not lines (the web's /t/ routes)
 * is no Link: it gets the bus's typed events (protocol/events.ts) and
 * writes its output to a Sink.
 */

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
