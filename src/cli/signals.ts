/**
 * The daemon's signals, installed before it starts: a SIGHUP or SIGTERM
 * sent the moment it says it is ready (`systemctl reload` or `stop` right
 * after `start`) would otherwise meet the default action, which ends the
 * process. A signal that comes while the daemon starts is acted on once it
 * has started.
 */
import type { Logger } from '../log.js';

export interface Stoppable {
  stop(): Promise<void>;
}

export class DaemonSignals {
  readonly #logger: Logger;
  #server: Stoppable | undefined;
  #reload: (() => void) | undefined;
  /** A SIGHUP came while starting: reload once started. */
  #reloadWaiting = false;
  /** The stop signal that came while starting, if any. */
  #stopWaiting: NodeJS.Signals | undefined;
  #stops = 0;

  /** Installs the handlers now, before anything else starts. */
  constructor(logger: Logger) {
    this.#logger = logger;
    process.on('SIGHUP', () => this.#hangup());
    process.on('SIGTERM', (signal) => this.#stop(signal));
    process.on('SIGINT', (signal) => this.#stop(signal));
  }

  /** The daemon is up: `reload` is what SIGHUP does from now on. */
  started(server: Stoppable, reload: () => void): void {
    this.#server = server;
    this.#reload = reload;
    if (this.#stopWaiting !== undefined) this.#stopNow(this.#stopWaiting);
    else if (this.#reloadWaiting) reload();
  }

  #hangup(): void {
    if (this.#reload !== undefined) return this.#reload();
    this.#reloadWaiting = true;
    this.#logger.log('info', 'SIGHUP while starting: reloading once started');
  }

  #stop(signal: NodeJS.Signals): void {
    this.#stops++;
    if (this.#stops > 1) {
      this.#logger.log('warn', `second ${signal}: exiting without waiting`);
      process.exit(1);
    }
    if (this.#server !== undefined) return this.#stopNow(signal);
    this.#stopWaiting = signal;
    this.#logger.log('info', `${signal} while starting: stopping once started`);
  }

  #stopNow(signal: NodeJS.Signals): void {
    this.#logger.log('info', `${signal} received`);
    void (this.#server as Stoppable).stop().then(() => process.exit(0));
  }
}
