/**
 * The daemon's counters, as `stats` shows them: each owner increments its
 * own, the server reads them all. Rates average the last RATE_WINDOW_S
 * seconds; the event-loop delay histogram shows the longest synchronous
 * steps.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';

/** How many seconds of counters the per-second rates average. */
const RATE_WINDOW_S = 10;

interface RateSample {
  at: number;
  in: number;
  out: number;
}

export class Stats {
  readonly started = Date.now();
  connectionsTotal = 0;
  messagesIn = 0;
  messagesOut = 0;
  commits = 0;
  /** The most sends one transaction held. */
  largestCommit = 0;
  slowDisconnects = 0;
  retentionDeleted = 0;
  checkpoints = 0;
  checkpointFailures = 0;
  retentionFailures = 0;
  /** Catch-ups and replays waiting for their client to read. */
  catchUpsWaiting = 0;
  /** The most input bytes any connection had queued behind a command. */
  inputQueueMaxBytes = 0;
  /** Work queues: jobs handed out (redelivered ones too), acked, handed out again, dead. */
  jobsDelivered = 0;
  jobsAcked = 0;
  jobsRedelivered = 0;
  jobsDead = 0;
  readonly #closeReasons = new Map<string, number>();
  readonly #rates: RateSample[] = [];
  #rateTimer: NodeJS.Timeout | undefined;
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  /** Starts the rate sampling and the event-loop histogram. */
  start(): void {
    this.#loopDelay.enable();
    this.#sample();
    this.#rateTimer = setInterval(() => this.#sample(), 1000).unref();
  }

  stop(): void {
    clearInterval(this.#rateTimer);
    this.#loopDelay.disable();
  }

  closed(reason: string): void {
    this.#closeReasons.set(reason, (this.#closeReasons.get(reason) ?? 0) + 1);
  }

  #sample(): void {
    this.#rates.push({ at: Date.now(), in: this.messagesIn, out: this.messagesOut });
    if (this.#rates.length > RATE_WINDOW_S + 1) this.#rates.shift();
  }

  /** The figures this object owns, as `stats` names them. */
  pairs(): [string, number][] {
    const now = Date.now();
    const oldest = this.#rates[0] ?? { at: this.started, in: 0, out: 0 };
    const seconds = Math.max(1, (now - oldest.at) / 1000);
    return [
      ['uptime_s', Math.floor((now - this.started) / 1000)],
      ['connections_total', this.connectionsTotal],
      ['messages_in', this.messagesIn],
      ['messages_out', this.messagesOut],
      ['journal_commits', this.commits],
      ['journal_largest_commit', this.largestCommit],
      ['journal_checkpoints', this.checkpoints],
      ['journal_checkpoint_failures', this.checkpointFailures],
      ['event_loop_delay_p99_ms', Math.round(this.#loopDelay.percentile(99) / 1e4) / 100],
      ['event_loop_delay_max_ms', Math.round(this.#loopDelay.max / 1e4) / 100],
      ['slow_disconnects', this.slowDisconnects],
      ['catch_ups_waiting', this.catchUpsWaiting],
      ['input_queue_max_bytes', this.inputQueueMaxBytes],
      ['jobs_delivered', this.jobsDelivered],
      ['jobs_acked', this.jobsAcked],
      ['jobs_redelivered', this.jobsRedelivered],
      ['jobs_dead', this.jobsDead],
      ['retention_deleted', this.retentionDeleted],
      ['retention_failures', this.retentionFailures],
      ['in_per_s', Math.round((this.messagesIn - oldest.in) / seconds)],
      ['out_per_s', Math.round((this.messagesOut - oldest.out) / seconds)],
    ];
  }

  /** `closed.<reason>` counts, one per reason connections closed for. */
  closeReasons(): [string, number][] {
    return [...this.#closeReasons].sort().map(([reason, count]) => [`closed.${reason.replace(/[^a-z0-9]+/gi, '_')}`, count]);
  }
}
