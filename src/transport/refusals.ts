/**
 * Connections refused at the door (the server is full): each gets one line
 * saying why, a moment to read it, and is closed; a stopping server
 * destroys the ones still open.
 */
import type { Link } from './link.js';

/** How long a refused client gets to read why. */
const GRACE_MS = 2000;

/** What a refused connection's input is worth. */
function ignore(): void {}

export class Refusals {
  readonly #open = new Set<Link>();

  /** Writes `line` (with its LF) to `link` and closes it; `closed` runs when it is gone. */
  refuse(link: Link, line: string, closed: () => void): void {
    this.#open.add(link);
    link.open({
      data: ignore,
      end: ignore,
      close: () => {
        this.#open.delete(link);
        closed();
      },
    });
    link.write(`${line}\n`);
    link.end();
    setTimeout(() => link.destroy(), GRACE_MS).unref();
  }

  /** Refused clients hold nothing worth waiting for. */
  destroyAll(): void {
    for (const link of this.#open) link.destroy();
  }
}
