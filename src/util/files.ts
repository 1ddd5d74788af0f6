/** What the system lets the process hold. */
import { readFileSync } from 'node:fs';

/** The soft limit on the process's open files (Linux's /proc/self/limits), if it can be read and is one. */
export function openFileLimit(): number | undefined {
  try {
    const found = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return found ? Number(found[1]) : undefined;
  } catch {
    return undefined;
  }
}
