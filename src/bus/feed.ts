/**
 * Catch-up and replay: journaled messages streamed to one target a page at
 * a time, waiting for the target's link between pages, so a million
 * messages neither fill the server's memory nor stop it serving others.
 *
 * While a feed runs, the target skips live deliveries (pauseLive): the feed
 * reads them from the journal instead, in id order, and goes live in the
 * same synchronous step as its last read, so nothing falls between.
 *
 * A durable cursor is a catch-up from the cursor's mark; the feed makes the
 * cursor when it is new, and counts a cursor's lag.
 */
import type { Start } from '../protocol/args.js';
import { err, ok, startingAt } from '../protocol/events.js';
import type { Message, Reply } from '../protocol/events.js';
import type { LagCounter } from '../store/lag.js';
import type { JournalStarts } from '../store/starts.js';
import type { JournalReader, PageLimits } from '../store/reader.js';
import { Wants } from '../store/wants.js';
import type { Readable, Want } from '../store/wants.js';
import type { Cursors } from './cursors.js';
import type { Policy } from './policy.js';
import type { Turn } from './turn.js';

interface Target {
  readonly user: string | undefined;
  /** The patterns it receives live. */
  readonly patterns: ReadonlySet<string>;
  subscribe(pattern: string): void;
  /** Its output is in its link and the link has room; false once it closes. */
  room(): Promise<boolean>;
  /** The most bytes one page may hold for it. */
  readonly pageBytes: number;
  pauseLive(): void;
  resumeLive(): void;
}

/** Any other door: pages come as messages. */
export interface MessageTarget extends Target {
  readonly takes: 'messages';
  /** Journaled messages, in id order. */
  pushMessages(messages: readonly Message[]): void;
}

/**
 * A door of lines: pages come as `msg` lines, as the journal stores them,
 * or as messages when it says so at a page: the line session while it
 * stamps its lines with their time (`tags ts`), which stored lines do not
 * hold; a web stream in JSON or SSE.
 */
export interface EitherTarget extends Target {
  readonly takes: 'lines' | 'messages';
  /** Journaled `msg` lines (UTF-8, in pieces written as one), in id order; `lastId` is the id of the last. */
  pushJournaled(pieces: readonly Buffer[], lastId: number): void;
  pushMessages(messages: readonly Message[]): void;
}

/** What a feed writes to: a session, a web stream, an MQTT connection. */
export type FeedTarget = MessageTarget | EitherTarget;

/** A target of a command (`recv`, `replay`): it is answered `ok recv ...`, `ok replay ...`, or why not. */
export interface Answered {
  reply(reply: Reply): void;
}

/** "Until the end of the journal, however far it has grown." */
const NO_END = Number.MAX_SAFE_INTEGER;
/** Rows read per page at most. */
const PAGE_ROWS = 8000;

export class Feed {
  readonly #reader: JournalReader;
  readonly #starts: JournalStarts;
  readonly #turn: Turn;
  readonly #cursors: Cursors;
  readonly #lag: LagCounter;
  readonly #policy: Policy;

  constructor(reader: JournalReader, starts: JournalStarts, turn: Turn, cursors: Cursors, lag: LagCounter, policy: Policy) {
    this.#reader = reader;
    this.#turn = turn;
    this.#cursors = cursors;
    this.#lag = lag;
    this.#starts = starts;
    this.#policy = policy;
  }

  /** PROTOCOL.md: `ok recv`, then the journaled messages, then live. */
  catchUp(target: FeedTarget & Answered, pattern: string, start: Start): Promise<void> {
    return this.#paused(target, async () => {
      // Patterns already live pick up from here, through the journal.
      const wants = this.#liveWants(target);
      target.subscribe(pattern);
      target.reply(startingAt(ok('recv', pattern), this.#gone(start)));
      const after = await this.#startId(target, pattern, start);
      if (after === undefined) return;
      await this.#stream(target, [{ pattern, after }, ...wants], NO_END);
    });
  }

  /**
   * PROTOCOL.md: `recv <pattern> as <cursor>`: a catch-up from the mark of
   * the target's user's cursor, made first (from `start`, or from the
   * journal's end) if there is none; at most `maxCursors` per user.
   */
  follow(target: FeedTarget & Answered, name: string, pattern: string, start: Start | undefined, maxCursors: number): Promise<void> {
    return this.#paused(target, async () => {
      const wants = this.#liveWants(target);
      const user = target.user as string;
      const cursors = this.#cursors;
      await cursors.refresh(user, name);
      let cursor = cursors.get(user, name);
      if (cursor === undefined) {
        const tooMany = (): boolean => {
          if (cursors.count(user) < maxCursors) return false;
          target.reply(err('busy', `you have ${maxCursors} cursors, the most one user may (--max-cursors); forget one first`));
          return true;
        };
        if (tooMany()) return;
        const after = await this.#startId(target, pattern, start ?? { kind: 'id', id: this.#reader.lastId() });
        if (after === undefined) return;
        // Checked again with the making, in one step: other connections of
        // this user may have made cursors while the start was looked up.
        cursor = cursors.get(user, name);
        if (cursor === undefined) {
          if (tooMany()) return;
          // A start in the future means: from now on.
          cursor = cursors.create(user, name, pattern, Math.min(after, this.#reader.lastId()));
        }
      }
      if (cursor.pattern !== pattern) {
        target.reply(err('syntax', `cursor ${name} follows ${cursor.pattern}; recv ${cursor.pattern} as ${name}, or forget ${name} first`));
        return;
      }
      target.subscribe(pattern);
      const mark = cursor.mark;
      target.reply(startingAt(ok('recv', pattern, 'as', name, 'after', mark), this.#goneAfter(mark)));
      await this.#stream(target, [{ pattern, after: mark }, ...wants], NO_END);
    });
  }

  /**
   * An MQTT kept session coming back (MQTT.md, "Sessions"): the journal
   * after `after` for all its `patterns`, in id order, then live; no reply.
   */
  resume(target: FeedTarget, patterns: readonly string[], after: number): Promise<void> {
    return this.#paused(target, async () => {
      for (const pattern of patterns) target.subscribe(pattern);
      if (patterns.length > 0) await this.#stream(target, patterns.map((pattern) => ({ pattern, after })), NO_END);
    });
  }

  /** The number of journaled messages of `patterns` after `after`; undefined if the target closed. */
  async lag(target: FeedTarget, patterns: readonly string[], after: number): Promise<number | undefined> {
    const steps = this.lagSteps(target.user as string, patterns, after);
    let step = steps.next();
    while (!step.done) {
      if (!(await target.room())) return undefined;
      step = steps.next();
    }
    return step.value;
  }

  /**
   * Counts the journaled messages of `patterns` after `after` that `user`
   * may read (each once), in steps: a caller yields between them, as it likes.
   */
  lagSteps(user: string, patterns: readonly string[], after: number): Generator<void, number> {
    const whole = patterns.every((pattern) => this.#policy.reach(user, pattern) === 'all');
    return whole ? this.#lag.count(patterns.length === 1 ? (patterns[0] as string) : patterns, after, this.#reader.lastId()) : this.#readableRows(user, patterns, after);
  }

  /** The rows of `patterns` after `after` that `user` may read, counted a page at a time. */
  *#readableRows(user: string, patterns: readonly string[], after: number): Generator<void, number> {
    const reader = this.#reader;
    const wants = new Wants(patterns.map((pattern) => ({ pattern, after })), this.#policy.readable(user));
    const until = reader.lastId();
    let page = reader.page(wants, Math.max(after, reader.firstId() - 1), until);
    let count = page.rows.length;
    while (!page.done) {
      yield;
      page = reader.page(wants, page.next, until);
      count += page.rows.length;
    }
    return count;
  }

  /** The id after which `start` begins for `pattern` (a new group's position). */
  async startOf(target: FeedTarget, pattern: string, start: Start): Promise<number | undefined> {
    await this.#turn.ended();
    return this.#startId(target, pattern, start);
  }

  /** PROTOCOL.md: the journaled messages, then `ok replay <pattern> <count>`. */
  replay(target: FeedTarget & Answered, pattern: string, start: Start): Promise<void> {
    return this.#paused(target, async () => {
      const live = this.#liveWants(target);
      const gone = this.#gone(start);
      const after = await this.#startId(target, pattern, start);
      if (after === undefined) return;
      const count = await this.#stream(target, [{ pattern, after }], this.#reader.lastId());
      if (count === undefined) return;
      target.reply(startingAt(ok('replay', pattern, count), gone));
      if (live.length > 0) await this.#stream(target, live, NO_END);
    });
  }

  /**
   * Lets the turn end first, so sends that came before the command (from
   * any client) are committed and delivered live as usual; then pauses live
   * deliveries to the target for as long as `work` reads the journal.
   */
  async #paused(target: FeedTarget, work: () => Promise<void>): Promise<void> {
    await this.#turn.ended();
    target.pauseLive();
    try {
      await work();
    } finally {
      target.resumeLive();
    }
  }

  /**
   * When `since <id>` (or a cursor's mark) asks for rows that retention
   * has deleted, the reply says where the journal now starts.
   */
  #gone(start: Start): number | undefined {
    return start.kind === 'id' ? this.#goneAfter(start.id) : undefined;
  }

  #goneAfter(id: number): number | undefined {
    const first = this.#reader.firstId();
    return first > id + 1 ? first : undefined;
  }

  /** What the target's user may read, or undefined (no check) for a target without one. */
  #readable(target: FeedTarget): Readable | undefined {
    return target.user === undefined ? undefined : this.#policy.readable(target.user);
  }

  /** What the target's live patterns still need, from the journal's end now. */
  #liveWants(target: FeedTarget): Want[] {
    const now = this.#reader.lastId();
    return [...target.patterns].map((pattern) => ({ pattern, after: now }));
  }

  /** The id after which `start` begins; undefined if the target closed. */
  async #startId(target: FeedTarget, pattern: string, start: Start): Promise<number | undefined> {
    const starts = this.#starts;
    const now = this.#reader.lastId();
    switch (start.kind) {
      case 'id':
        return start.id;
      case 'time':
        return starts.afterTime(start.ms, 1, now);
      case 'ago':
        return starts.afterTime(Date.now() - start.ms, 1, now);
      case 'last': {
        const steps = starts.startOfLast(pattern, start.count, now, undefined, this.#readable(target));
        let step = steps.next();
        while (!step.done) {
          if (!(await target.room())) return undefined;
          step = steps.next();
        }
        return step.value;
      }
    }
  }

  /**
   * Writes the journaled messages that `wants` ask for, up to `until`, a
   * page at a time, waiting for the target between pages. Returns how many
   * were written, or undefined if the target closed first.
   */
  async #stream(target: FeedTarget, list: Want[], until: number): Promise<number | undefined> {
    const reader = this.#reader;
    const wants = new Wants(list, this.#readable(target));
    const limits = { rows: PAGE_ROWS, bytes: target.pageBytes };
    // Nothing lies before the first row (retention may have removed it).
    let cursor = Math.max(wants.lowest, reader.firstId() - 1);
    let count = 0;
    for (;;) {
      const page = this.#page(target, wants, cursor, until, limits);
      count += page.count;
      cursor = page.next;
      if (page.done) return count;
      if (!(await target.room())) return undefined;
    }
  }

  /** One page to `target`, in the form it takes. */
  #page(target: FeedTarget, wants: Wants, cursor: number, until: number, limits: PageLimits): { count: number; next: number; done: boolean } {
    if (target.takes === 'lines') {
      const page = this.#reader.pageText(wants, cursor, until, limits);
      if (page.count > 0) target.pushJournaled(page.pieces, page.lastId);
      return page;
    }
    const page = this.#reader.pageMessages(wants, cursor, until, limits);
    if (page.messages.length > 0) target.pushMessages(page.messages);
    return { count: page.messages.length, next: page.next, done: page.done };
  }
}
