/**
 * The optional config file of `linebus serve --config FILE`: one setting
 * per line, `name value`, with the long option names (`max-pending
 * 1048576`); `#` starts a comment. Options given on the command line or in
 * the environment win over the file. SIGHUP reads the file again.
 */
import { readFileSync } from 'node:fs';
import { FatalError } from '../protocol/errors.js';

/** The settings a config file may hold, and how to read each value. */
export const CONFIG_KEYS = ['max-line', 'max-pending', 'max-connections', 'retain-days', 'retain-messages', 'log-level'] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

export function readConfig(path: string, parsers: Readonly<Record<ConfigKey, (value: string) => unknown>>): Map<ConfigKey, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FatalError(`${path}: cannot read config: ${(error as Error).message}`);
  }
  const settings = new Map<ConfigKey, unknown>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const [name, value, extra] = line.split(/\s+/);
    const where = `${path}:${index + 1}`;
    if (!CONFIG_KEYS.includes(name as ConfigKey)) {
      throw new FatalError(`${where}: unknown setting '${name}'; known: ${CONFIG_KEYS.join(', ')}`);
    }
    if (value === undefined || extra !== undefined) throw new FatalError(`${where}: expected '${name} <value>'`);
    try {
      settings.set(name as ConfigKey, parsers[name as ConfigKey](value));
    } catch (error) {
      throw new FatalError(`${where}: ${name}: ${(error as Error).message}`);
    }
  });
  return settings;
}
