/**
 * The optional config file of `linebus serve --config FILE`: one setting
 * per line, `name value`, with the long option names (`max-pending
 * 1048576`, `db /srv/bus.db`); `#` at the start of a line or after a blank
 * starts a comment. Options given on the command line or in the
 * environment win over the file. SIGHUP reads the file again.
 */
import { readFileSync } from 'node:fs';
import { FatalError } from '../protocol/errors.js';

/** Setting name -> how to read its value (throws with a reason). */
export type ConfigParsers = ReadonlyMap<string, (value: string) => unknown>;

/** The settings in `path`, by name, in the order of the file. */
export function readConfig(path: string, parsers: ConfigParsers): Map<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FatalError(`${path}: cannot read config: ${(error as Error).message}`);
  }
  const settings = new Map<string, unknown>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/(^|\s)#.*/, '').trim();
    if (line === '') return;
    const [name = '', ...rest] = line.split(/\s+/);
    const value = rest.join(' ');
    const where = `${path}:${index + 1}`;
    const parse = parsers.get(name);
    if (parse === undefined) throw new FatalError(`${where}: unknown setting '${name}'; known: ${[...parsers.keys()].join(', ')}`);
    if (value === '') throw new FatalError(`${where}: expected '${name} <value>'`);
    try {
      settings.set(name, parse(value));
    } catch (error) {
      throw new FatalError(`${where}: ${name}: ${(error as Error).message}`);
    }
  });
  return settings;
}
