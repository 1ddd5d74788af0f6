/**
 * One line per event on stderr, with a level: `<time> <level> <message>
 * key=value ...`, or one JSON object per line for log shippers. Callers
 * never pass secrets (passwords, even wrong ones).
 */
/**
 * `notice` is for the few lines an operator must always see (`listening
 * on`, the readiness signal of CLI.md): no --log-level hides it.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'notice';
/** The levels a threshold may be. */
export type Threshold = Exclude<Level, 'notice'>;
export type LogFormat = 'text' | 'json';
export type Fields = Record<string, string | number | boolean | undefined>;

const RANK: Readonly<Record<Level, number>> = { debug: 10, info: 20, warn: 30, error: 40, notice: 50 };

export interface Logger {
  /** The lowest level written; SIGHUP may change it. */
  level?: Threshold;
  log(level: Level, message: string, fields?: Fields): void;
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: Threshold;
  write?: (line: string) => void;
}

function quoteIfNeeded(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'text';
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  return {
    level: options.level ?? 'info',
    log(level, message, fields = {}) {
      if (RANK[level] < RANK[this.level as Level]) return;
      const time = new Date().toISOString();
      const present = Object.entries(fields).filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined);
      if (format === 'json') {
        write(`${JSON.stringify({ time, level, msg: message, ...Object.fromEntries(present) })}\n`);
        return;
      }
      const tail = present.map(([key, value]) => ` ${key}=${quoteIfNeeded(String(value))}`).join('');
      write(`${time} ${level} ${message}${tail}\n`);
    },
  };
}

/** A logger that drops everything (library use, tests that do not look). */
export const silentLogger: Logger = { log() {} };
