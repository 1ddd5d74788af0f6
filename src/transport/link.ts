/**
 * The only thing a transport implements: a byte stream to one client. TCP
 * and TLS sockets, WebSockets and test doubles are Links; a session never
 * sees what is underneath.
 */

export interface LinkEvents {
  /** Bytes from the client, in order. */
  data(chunk: Buffer): void;
  /** The client will send nothing more (a half-close). */
  end(): void;
  /** The link is closed both ways; `error` if it failed. */
  close(error: string | undefined): void;
}

export interface Link {
  /** Which listener it came through: `tcp`, `tls`, `ws`. */
  readonly listener: string;
  /** The peer's IP address, if known (open mode allows loopback only). */
  readonly remoteAddress: string | undefined;
  /** `address:port`, for logs. */
  readonly remote: string;
  /** Logged in by the transport already (HTTP credentials), if so. */
  readonly user?: string | undefined;
  /** Bytes written but not yet taken by the peer's side of the transport. */
  readonly writableLength: number;
  /** Starts the flow of events; called once, by the session. */
  open(events: LinkEvents): void;
  /** Queues text (whole LF-terminated lines), or raw bytes, for the peer. */
  write(data: string | Buffer): void;
  /** Stops and restarts the `data` events (input backpressure). */
  pause(): void;
  resume(): void;
  /** Resolves once what was written has drained, or the link closed. */
  drained(): Promise<void>;
  /** Half-closes after what was written has gone out. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
}
