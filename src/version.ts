import { readFileSync } from 'node:fs';

/** The version in package.json: the greeting, --version and stats agree. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
