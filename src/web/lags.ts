/**
 * The cursor lags of /metrics (linebus_cursor_lag), counted off the hot
 * path: each cursor's count runs in steps (Feed.lagSteps: a few blocks'
 * summaries or a page of rows each), SLICE_MS of them at most before the
 * event loop serves everyone else; one count at a time, which the scrapes
 * that come while it runs share; and a count is kept for FRESH_MS, so
 * scrapes in a row cost nothing more. A lag counts only what the cursor's
 * user may read, as `cursors` does.
 */
import type { Cursors } from '../bus/cursors.js';
import type { Feed } from '../bus/feed.js';
import type { Logger } from '../log.js';
import { yieldToLoop } from '../util/yield.js';

export interface Lag {
  readonly user: string;
  readonly cursor: string;
  readonly lag: number;
}

/** The longest the count holds the event loop at a time. */
const SLICE_MS = 5;
/** How long a count answers the scrapes that follow it. */
export const FRESH_MS = 5000;

export class CursorLags {
  readonly #cursors: Cursors;
  readonly #feed: Feed;
  readonly #logger: Logger;
  #last: { readonly at: number; readonly lags: readonly Lag[] } | undefined;
  #counting: Promise<readonly Lag[]> | undefined;

  constructor(cursors: Cursors, feed: Feed, logger: Logger) {
    this.#cursors = cursors;
    this.#feed = feed;
    this.#logger = logger;
  }

  /** The lags of every cursor: the last count's if it is fresh, else the count under way's, else a new one's. */
  lags(): Promise<readonly Lag[]> {
    const last = this.#last;
    if (last !== undefined && performance.now() - last.at < FRESH_MS) return Promise.resolve(last.lags);
    this.#counting ??= this.#count().finally(() => (this.#counting = undefined));
    return this.#counting;
  }

  async #count(): Promise<readonly Lag[]> {
    const cursors = this.#cursors.listed();
    this.#logger.log('debug', 'cursor lags: counting', { cursors: cursors.length });
    const started = performance.now();
    let sliceEnd = started + SLICE_MS;
    let slices = 1;
    const lags: Lag[] = [];
    for (const { user, name, patterns, mark } of cursors) {
      const steps = this.#feed.lagSteps(user, patterns, mark);
      for (let step = steps.next(); ; step = steps.next()) {
        if (step.done) {
          lags.push({ user, cursor: name, lag: step.value });
          break;
        }
        if (performance.now() < sliceEnd) continue;
        await yieldToLoop();
        sliceEnd = performance.now() + SLICE_MS;
        slices++;
      }
    }
    const at = performance.now();
    this.#last = { at, lags };
    this.#logger.log('debug', 'cursor lags: counted', { cursors: cursors.length, ms: Math.round(at - started), slices });
    return lags;
  }
}
