import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * The version in package.json, so the greeting, --version and stats agree.
 * Read on first use, not at import. The path is relative to the compiled
 * file, dist/src/version.js, the only one that runs.
 */
export function version(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
