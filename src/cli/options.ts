/** Parsers for option values, shared by the command line and --config. */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { Threshold } from '../log.js';
import { MAX_DURATION_MS, parseDuration, parseSince } from '../protocol/args.js';
import type { Start, Usage } from '../protocol/args.js';
import { DEFAULTS } from '../limits.js';
import { parseClusterUrls, streamNameProblem } from '../cluster/subjects.js';
import type { ClusterSettings } from '../cluster/subjects.js';
import { FatalError } from '../protocol/errors.js';

const ON = new Set(['true', 'yes', 'on', '1']);
const OFF = new Set(['false', 'no', 'off', '0', '']);

/** The value of an on/off option in a config file or its environment variable. */
export function onOff(value: string): boolean {
  const word = value.trim().toLowerCase();
  if (ON.has(word)) return true;
  if (OFF.has(word)) return false;
  throw new InvalidArgumentError('expected true or false (or yes/no, on/off, 1/0).');
}

/**
 * commander turns an on/off option on when its environment variable is
 * set at all: LINEBUS_METRICS_OPEN=0 would open /metrics. The variable's
 * value decides instead.
 */
export function switchesFromEnv(command: Command): void {
  for (const option of command.options) {
    const name = option.attributeName();
    if (!option.isBoolean() || option.envVar === undefined || command.getOptionValueSource(name) !== 'env') continue;
    try {
      command.setOptionValueWithSource(name, onOff(process.env[option.envVar] ?? ''), 'env');
    } catch (error) {
      throw new FatalError(`${option.envVar}=${process.env[option.envVar]}: ${(error as Error).message}`);
    }
  }
}

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return Number(value);
}

/** A whole number of at least `min`. */
export function atLeast(min: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError(`expected a whole number of at least ${min}.`);
    }
    return Number(value);
  };
}

/** A whole number from 1 to `max`. */
export function atMost(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}.`);
    return Number(value);
  };
}

export function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return Number(value);
}

export function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

/** The --since value: an id, a duration (15m) or an ISO-8601 time. */
export function sinceOption(value: string): Exclude<Start, { kind: 'last' }> {
  try {
    return parseSince(value) as Exclude<Start, { kind: 'last' }>;
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Usage).problem as string}.`);
  }
}

/** `500ms`, `30s`, `5m`, `2h`, `1d` in milliseconds, as the protocol writes durations. */
export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms > MAX_DURATION_MS) throw new InvalidArgumentError('expected a duration of at most 30d: a number and a unit, 500ms, 30s, 5m, 2h, 1d.');
  return ms;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export function logLevel(value: string): Threshold {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return value as Threshold;
}

export function dbOption(): Option {
  return new Option('--db <file>', 'the journal database').env('LINEBUS_DB').default(DEFAULTS.db);
}

/** --cluster, --cluster-stream and --cluster-replicas, checked; throws a FatalError saying what to fix. */
export function clusterSettings(urls: string, stream: string, replicas: number): ClusterSettings {
  const problem = streamNameProblem(stream);
  if (problem !== undefined) throw new FatalError(`--cluster-stream ${stream}: ${problem}`);
  try {
    return { urls: parseClusterUrls(urls), stream, replicas };
  } catch (error) {
    throw new FatalError(`--cluster: ${(error as Error).message}`);
  }
}
