/**
 * One client connection: its state (login, patterns), the order of its
 * replies, its limits, and why it closed. Lines arrive as frames from the
 * framer; commands are handled strictly in order; every command gets one
 * reply, and a reply that waits (a send until its commit, a login until its
 * hash check) holds back every line after it, replies and msg lines alike.
 */
import type { Socket } from 'node:net';
import { errLine, ProtocolError } from './errors.js';
import type { Frame } from './framing.js';
import { LineFramer } from './framing.js';
import { HELP_VERBS, parse, USAGE } from './parser.js';
import type { Command, Start } from './parser.js';
import { DEFAULT_LIMITS } from './reader.js';
import type { JournalReader, Want } from './reader.js';
import { isReservedTopic } from './topic.js';

/** A reply whose text is not known yet; lines behind it wait. */
interface Slot {
  line: string | undefined;
}

/** A line waiting behind a slot; msg lines carry their journal id. */
interface HeldLine {
  line: string;
  id: number;
  bytes: number;
}

/** What the session needs from the server it belongs to. */
export interface SessionHost {
  readonly maxLine: number;
  readonly maxPending: number;
  readonly version: string;
  readonly reader: JournalReader;
  login(session: Session, user: string, password: string): Promise<ProtocolError | undefined>;
  publish(session: Session, topic: string, body: string, reply: (line: string) => void): void;
  subscribe(session: Session, pattern: string): void;
  unsubscribe(session: Session, pattern: string): void;
  introspect(session: Session, command: Command & { verb: 'topics' | 'who' | 'stats' }): string[];
  markDirty(session: Session): void;
  /** The session is being cut off for falling --max-pending bytes behind. */
  slow(session: Session, pendingBytes: number): void;
  closed(session: Session, reason: string): void;
}

/** Frames queued while a command is in progress before the socket is paused. */
const INPUT_HIGH_WATER = 1024;
/** How long a client told `err slow` or `err shutdown` gets to read it. */
const CLOSE_GRACE_MS = 2000;
/**
 * A catch-up reads pages of at most this many bytes, and waits while the
 * socket holds more: with the page it is writing, never over half of
 * --max-pending, so the reply after it fits too.
 */
const CATCH_UP_CHUNK = 1 << 20;
/** "Until the end of the journal, however far it has grown." */
const NO_END = Number.MAX_SAFE_INTEGER;

export class Session {
  readonly id: number;
  readonly socket: Socket;
  readonly remote: string;
  user: string | undefined;
  readonly patterns = new Set<string>();
  /** Journal id of the last msg line handed to the socket. */
  lastWrittenId = 0;
  /** A catch-up or replay is waiting for this client to read (stats). */
  waitingForReader = false;

  readonly #host: SessionHost;
  readonly #framer: LineFramer;
  /** --max-line as it was when this connection came (SIGHUP may change it). */
  readonly #maxLine: number;
  #out = '';
  #outBytes = 0;
  #outLastId = 0;
  #held: (HeldLine | Slot)[] = [];
  #heldBytes = 0;
  readonly #input: Frame[] = [];
  #busy = false;
  #inputEnded = false;
  /** Set once the session is on its way out: no more input or deliveries. */
  #closeReason: string | undefined;
  #endAfterFlush = false;
  /**
   * While a catch-up or replay reads the journal, live deliveries to this
   * session are skipped: the catch-up reads them from the journal instead,
   * in id order, and goes live in the same synchronous step as its last
   * read, so nothing falls between.
   */
  #paused = false;

  constructor(host: SessionHost, socket: Socket, id: number) {
    this.#host = host;
    this.socket = socket;
    this.id = id;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#maxLine = host.maxLine;
    this.#framer = new LineFramer(
      this.#maxLine,
      (frame) => this.#onFrame(frame),
      () => this.#onInputEnd(),
    );
    socket.on('data', (chunk: Buffer) => this.#framer.write(chunk));
    socket.on('end', () => this.#framer.end());
    socket.on('close', () => this.#onSocketClose());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#closeReason ??= `socket error ${error.code ?? error.message}`;
    });
    this.#write(`hello linebus ${host.version}`);
  }

  /** Bytes waiting to reach the client: in the socket, in #out, held. */
  pendingBytes(): number {
    return this.socket.writableLength + this.#outBytes + this.#heldBytes;
  }

  /** A msg line for this client (the server formats it once per message). */
  deliver(line: string, bytes: number, id: number): void {
    if (this.#closeReason !== undefined || this.#paused) return;
    if (this.pendingBytes() + bytes > this.#host.maxPending) {
      this.#slow();
      return;
    }
    this.#append(line, bytes, id);
  }

  /** Hands what is ready to the socket; called by the server once per turn. */
  flush(): void {
    if (this.#out.length > 0 && !this.socket.destroyed) {
      this.socket.write(this.#out);
      this.lastWrittenId = this.#outLastId;
    }
    this.#out = '';
    this.#outBytes = 0;
    if (this.#endAfterFlush && this.#held.length === 0) this.#end();
  }

  /** The server is stopping: say so, then close. */
  shutdown(): void {
    if (this.#closeReason !== undefined) return;
    this.#dropUnsent();
    this.#out = `${errLine('shutdown', 'the server is stopping; reconnect later')}\n`;
    this.#outBytes = this.#out.length;
    this.#closeReason = 'shutdown';
    this.#endAfterFlush = true;
    this.flush();
  }

  // --- output ------------------------------------------------------------

  /** A reply line (without LF); replies count against --max-pending too. */
  #write(line: string): void {
    if (this.#closeReason !== undefined) return;
    const text = `${line}\n`;
    const bytes = Buffer.byteLength(text);
    if (this.pendingBytes() + bytes > this.#host.maxPending) {
      this.#slow();
      return;
    }
    this.#append(text, bytes, 0);
  }

  #append(line: string, bytes: number, id: number): void {
    if (this.#held.length > 0) {
      this.#held.push({ line, id, bytes });
      this.#heldBytes += bytes;
      return;
    }
    this.#out += line;
    this.#outBytes += bytes;
    if (id > 0) this.#outLastId = id;
    this.#host.markDirty(this);
  }

  #reserve(): Slot {
    const slot: Slot = { line: undefined };
    this.#held.push(slot);
    return slot;
  }

  #fill(slot: Slot, line: string): void {
    slot.line = `${line}\n`;
    while (this.#held.length > 0) {
      const head = this.#held[0] as HeldLine | Slot;
      if (head.line === undefined) break;
      this.#held.shift();
      const bytes = 'bytes' in head ? head.bytes : Buffer.byteLength(head.line);
      if ('bytes' in head) this.#heldBytes -= bytes;
      this.#out += head.line;
      this.#outBytes += bytes;
      if ('id' in head && head.id > 0) this.#outLastId = head.id;
    }
    this.#host.markDirty(this);
    this.#maybeFinish();
  }

  #dropUnsent(): void {
    this.#out = '';
    this.#outBytes = 0;
    this.#held = [];
    this.#heldBytes = 0;
  }

  /**
   * PROTOCOL.md: `err slow` when --max-pending bytes are waiting, then
   * close. What was not yet handed to the socket is dropped, so the id in
   * the line is the last one the client can have received: it comes back
   * with `recv <pattern> since <id>` and loses nothing.
   */
  #slow(): void {
    this.#host.slow(this, this.pendingBytes());
    this.#dropUnsent();
    this.#closeReason = 'slow';
    this.#out = `${errLine('slow', `you fell over ${this.#host.maxPending} bytes behind; last id sent ${this.lastWrittenId}; reconnect and recv <pattern> since ${this.lastWrittenId}`)}\n`;
    this.#outBytes = this.#out.length;
    this.#endAfterFlush = true;
    this.#host.markDirty(this);
  }

  #end(): void {
    this.#endAfterFlush = false;
    this.socket.end();
    // A client that does not read may never take the last line; do not
    // wait for it forever.
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  // --- input -------------------------------------------------------------

  #onFrame(frame: Frame): void {
    if (this.#closeReason !== undefined) return;
    if (this.#busy || this.#input.length > 0) {
      this.#input.push(frame);
      if (this.#input.length >= INPUT_HIGH_WATER) this.socket.pause();
      return;
    }
    this.#handleFrame(frame);
  }

  #pump(): void {
    while (!this.#busy && this.#closeReason === undefined) {
      const frame = this.#input.shift();
      if (frame === undefined) break;
      this.#handleFrame(frame);
    }
    if (this.#input.length < INPUT_HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    this.#maybeFinish();
  }

  #onInputEnd(): void {
    this.#inputEnded = true;
    this.#maybeFinish();
  }

  /**
   * PROTOCOL.md: after a half-close the server closes once its replies are
   * written, unless the connection is receiving.
   */
  #maybeFinish(): void {
    if (!this.#inputEnded || this.#closeReason !== undefined) return;
    if (this.#busy || this.#input.length > 0 || this.#held.length > 0 || this.patterns.size > 0) return;
    this.#closeReason = 'client closed';
    this.#endAfterFlush = true;
    this.#host.markDirty(this);
  }

  #onSocketClose(): void {
    this.#closeReason ??= 'client closed';
    this.#dropUnsent();
    this.#host.closed(this, this.#closeReason);
  }

  #handleFrame(frame: Frame): void {
    switch (frame.kind) {
      case 'toolong':
        this.#write(errLine('toolong', `line is over the ${this.#maxLine}-byte limit and was dropped; send shorter lines`));
        return;
      case 'encoding':
        this.#write(errLine('encoding', 'line is not valid UTF-8 and was dropped; send UTF-8 text'));
        return;
      case 'line': {
        const command = parse(frame.text);
        if (command === undefined) return;
        if (command instanceof ProtocolError) {
          this.#write(command.toLine());
          return;
        }
        this.#handle(command);
      }
    }
  }

  // --- commands (one handler per verb) -------------------------------------

  #handle(command: Command): void {
    if (this.user === undefined && !['login', 'help', 'ping', 'logoff'].includes(command.verb)) {
      this.#write(errLine('auth', `log in first: ${USAGE.login}`));
      return;
    }
    switch (command.verb) {
      case 'login':
        this.#login(command.user, command.password);
        return;
      case 'recv': {
        const { pattern, start } = command;
        if (start === undefined) this.#recv(pattern);
        else this.#background(() => this.#catchUp(pattern, start));
        return;
      }
      case 'replay':
        this.#background(() => this.#replay(command.pattern, command.start));
        return;
      case 'leave':
        this.#leave(command.pattern);
        return;
      case 'send':
        this.#send(command.topic, command.body);
        return;
      case 'ping':
        this.#write(command.text === undefined ? 'pong' : `pong ${command.text}`);
        return;
      case 'help':
        this.#write(`ok help ${HELP_VERBS.join(' ')}`);
        return;
      case 'logoff':
        this.#logoff();
        return;
      case 'topics':
      case 'who':
      case 'stats':
        for (const line of this.#host.introspect(this, command)) this.#write(line);
    }
  }

  #login(user: string, password: string): void {
    if (this.user !== undefined) {
      this.#write(errLine('auth', `already logged in as ${this.user}; log off and reconnect to change user`));
      return;
    }
    const slot = this.#reserve();
    this.#busy = true;
    void this.#host.login(this, user, password).then((refusal) => {
      if (refusal === undefined) this.user = user;
      this.#busy = false;
      this.#fill(slot, refusal ? refusal.toLine() : `ok login ${user}`);
      this.#pump();
    });
  }

  #recv(pattern: string): void {
    if (!this.patterns.has(pattern)) {
      this.patterns.add(pattern);
      this.#host.subscribe(this, pattern);
    }
    this.#write(`ok recv ${pattern}`);
  }

  /**
   * Runs a command that reads the journal over several turns; commands
   * after it wait. It first lets the turn end, so sends that came before it
   * (from any client) are committed and delivered live as usual; then live
   * deliveries to this session pause and the work reads them from the
   * journal instead.
   */
  #background(work: () => Promise<void>): void {
    this.#busy = true;
    void (async () => {
      if (await this.#room()) {
        this.#paused = true;
        await work();
      }
      this.#paused = false;
      this.#busy = false;
      this.#pump();
    })();
  }

  /** PROTOCOL.md: `ok recv`, then the journaled messages, then live. */
  async #catchUp(pattern: string, start: Start): Promise<void> {
    // Live deliveries stop now (#paused); patterns already live pick up
    // from here, through the journal.
    const wants = this.#liveWants();
    if (!this.patterns.has(pattern)) {
      this.patterns.add(pattern);
      this.#host.subscribe(this, pattern);
    }
    this.#write(`ok recv ${pattern}${this.#gone(start)}`);
    const after = await this.#startId(pattern, start);
    if (after === undefined) return;
    await this.#stream([{ pattern, after }, ...wants], NO_END);
  }

  /** PROTOCOL.md: the journaled messages, then `ok replay <pattern> <count>`. */
  async #replay(pattern: string, start: Start): Promise<void> {
    const live = this.#liveWants();
    const gone = this.#gone(start);
    const after = await this.#startId(pattern, start);
    if (after === undefined) return;
    const count = await this.#stream([{ pattern, after }], this.#host.reader.lastId());
    if (count === undefined) return;
    this.#write(`ok replay ${pattern} ${count}${gone}`);
    if (live.length > 0) await this.#stream(live, NO_END);
  }

  /**
   * When `since <id>` asks for rows that retention has deleted, the reply
   * says where the journal now starts: ` journal starts at <first id>`.
   */
  #gone(start: Start): string {
    if (start.kind !== 'id') return '';
    const first = this.#host.reader.firstId();
    return first > start.id + 1 ? ` journal starts at ${first}` : '';
  }

  /** What this session's live patterns still need, from the journal's end now. */
  #liveWants(): Want[] {
    const now = this.#host.reader.lastId();
    return [...this.patterns].map((pattern) => ({ pattern, after: now }));
  }

  /** The id after which `start` begins; undefined if the session closed. */
  async #startId(pattern: string, start: Start): Promise<number | undefined> {
    const reader = this.#host.reader;
    const now = reader.lastId();
    switch (start.kind) {
      case 'id':
        return start.id;
      case 'time':
        return reader.afterTime(start.ms, 1, now);
      case 'ago':
        return reader.afterTime(Date.now() - start.ms, 1, now);
      case 'last': {
        const steps = reader.startOfLast(pattern, start.count, now);
        let step = steps.next();
        while (!step.done) {
          if (!(await this.#room())) return undefined;
          step = steps.next();
        }
        return step.value;
      }
    }
  }

  /**
   * Writes the journaled messages that `wants` ask for, up to `until`, a
   * page at a time, waiting for the socket between pages. Returns how many
   * were written, or undefined if the session closed first.
   */
  async #stream(wants: Want[], until: number): Promise<number | undefined> {
    const reader = this.#host.reader;
    const limits = { rows: DEFAULT_LIMITS.rows, bytes: this.#chunkBytes() };
    // Nothing lies before the first row (retention may have removed it).
    let cursor = Math.max(Math.min(...wants.map((w) => w.after)), reader.firstId() - 1);
    let count = 0;
    for (;;) {
      const page = reader.page(wants, cursor, until, limits);
      for (const row of page.rows) {
        const line = `msg ${row.topic} ${row.id} ${row.sender} ${row.body}\n`;
        this.#append(line, Buffer.byteLength(line), row.id);
      }
      count += page.rows.length;
      cursor = page.next;
      if (page.done) return count;
      if (!(await this.#room())) return undefined;
    }
  }

  #chunkBytes(): number {
    return Math.min(CATCH_UP_CHUNK, Math.floor(this.#host.maxPending / 4));
  }

  /**
   * Lets the turn end (which flushes our output), then waits while the
   * socket holds more than the high-water mark. False once closing.
   */
  async #room(): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    const highWater = this.#chunkBytes();
    while (this.#closeReason === undefined && this.socket.writableLength > highWater) {
      this.waitingForReader = true;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          resolve();
        };
        this.socket.on('drain', done);
        this.socket.on('close', done);
      });
      this.waitingForReader = false;
    }
    return this.#closeReason === undefined;
  }

  #leave(pattern: string): void {
    if (!this.patterns.delete(pattern)) {
      this.#write(errLine('notfound', `not receiving ${pattern}; recv it first, or check the spelling`));
      return;
    }
    this.#host.unsubscribe(this, pattern);
    this.#write(`ok leave ${pattern}`);
  }

  #send(topic: string, body: string): void {
    if (isReservedTopic(topic)) {
      this.#write(errLine('denied', `topics starting with '$' belong to the server; clients may recv them but not send to them`));
      return;
    }
    const slot = this.#reserve();
    this.#host.publish(this, topic, body, (line) => this.#fill(slot, line));
  }

  #logoff(): void {
    this.#write('ok logoff');
    this.#closeReason = 'logoff';
    this.#input.length = 0;
    this.#endAfterFlush = true;
  }
}
