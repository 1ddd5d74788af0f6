/**
 * The `linebus` command line (CLI.md): a thin commander program over the
 * library. Every option that names a place or a limit can also come from a
 * LINEBUS_* environment variable.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONFIG_KEYS, readConfig } from './config.js';
import type { ConfigKey } from './config.js';
import { FatalError } from './errors.js';
import { Journal } from './journal.js';
import { createLogger } from './log.js';
import type { Level, LogFormat } from './log.js';
import { DEFAULTS, LinebusServer } from './server.js';
import type { Limits } from './server.js';
import { hashPassword, userNameProblem } from './users.js';
import { VERSION } from './version.js';
import { readPassword } from './prompt.js';
import { tail } from './tail.js';
import type { TailOptions } from './tail.js';

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return Number(value);
}

function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return Number(value);
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

function dbOption(): Option {
  return new Option('--db <file>', 'the journal database').env('LINEBUS_DB').default(DEFAULTS.db);
}

interface ServeOptions {
  host: string;
  port: number;
  db: string;
  maxLine: number;
  maxPending: number;
  maxConnections: number;
  retainDays: number;
  retainMessages: number;
  config: string | undefined;
  sync: 'normal' | 'full';
  logFormat: LogFormat;
  logLevel: Level;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

function logLevel(value: string): Level {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return value as Level;
}

const CONFIG_PARSERS: Readonly<Record<ConfigKey, (value: string) => unknown>> = {
  'max-line': positiveInt,
  'max-pending': positiveInt,
  'max-connections': positiveInt,
  'retain-days': wholeNumber,
  'retain-messages': wholeNumber,
  'log-level': logLevel,
};

/** `max-pending` -> `maxPending`, commander's name for the option value. */
function camel(key: ConfigKey): keyof ServeOptions {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof ServeOptions;
}

/**
 * The settings of the config file that the command line and environment
 * leave to it (their source is the default or the file itself).
 */
function fromConfig(path: string, command: Command): Partial<ServeOptions> {
  const settings: Record<string, unknown> = {};
  for (const [key, value] of readConfig(path, CONFIG_PARSERS)) {
    const name = camel(key);
    const source = command.getOptionValueSource(name);
    if (source === undefined || source === 'default' || source === 'config') {
      command.setOptionValueWithSource(name, value, 'config');
      settings[name] = value;
    }
  }
  return settings as Partial<ServeOptions>;
}

/**
 * systemd socket activation: LISTEN_PID is this process and LISTEN_FDS
 * counts the sockets passed from fd 3 on. Returns 3, or undefined.
 */
export function inheritedSocket(env: NodeJS.ProcessEnv): number | undefined {
  if (env.LISTEN_PID !== String(process.pid) || !(Number(env.LISTEN_FDS) >= 1)) return undefined;
  // As sd_listen_fds(unset_environment=1) does: children must not inherit them.
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return 3;
}

async function serve(cliOptions: ServeOptions, command: Command): Promise<void> {
  const options = cliOptions.config ? { ...cliOptions, ...fromConfig(cliOptions.config, command) } : cliOptions;
  const logger = createLogger({ format: options.logFormat, level: options.logLevel });
  const server = await LinebusServer.start({ ...options, listenFd: inheritedSocket(process.env), logger });
  process.on('SIGHUP', () => {
    const users = server.journal.listUsers().length;
    if (!options.config) {
      logger.log('info', 'SIGHUP: users are read at every login; no --config file, so limits are unchanged', { users });
      return;
    }
    try {
      const next = fromConfig(options.config, command);
      const changed = server.reconfigure(next as Partial<Limits>);
      if (next.logLevel !== undefined && next.logLevel !== logger.level) {
        changed.push(`logLevel ${logger.level} -> ${next.logLevel}`);
        logger.level = next.logLevel;
      }
      logger.log('info', `SIGHUP: reloaded ${options.config}: ${changed.length > 0 ? changed.join(', ') : 'nothing changed'}`, { users });
    } catch (error) {
      logger.log('error', `SIGHUP: kept the old settings: ${(error as Error).message}`);
    }
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.log('warn', `second ${signal}: exiting without waiting`);
      process.exit(1);
    }
    logger.log('info', `${signal} received`);
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function userAdd(name: string, options: { db: string }): Promise<void> {
  const problem = userNameProblem(name);
  if (problem) throw new FatalError(`${problem}: '${name}'`);
  const password = await readPassword(`password for ${name}: `);
  if (password.length === 0) throw new FatalError('empty password; give one line on stdin, or type it at the prompt');
  const hash = await hashPassword(password);
  const journal = Journal.open(options.db);
  try {
    const added = journal.putUser(name, hash);
    process.stdout.write(`${added ? 'added' : 'changed password of'} ${name}\n`);
  } finally {
    journal.close();
  }
}

function userDel(name: string, options: { db: string }): void {
  const journal = Journal.open(options.db, { mustExist: true });
  try {
    if (!journal.deleteUser(name)) throw new FatalError(`no user '${name}' in ${options.db}; 'linebus user list' shows who there is`);
    process.stdout.write(`deleted ${name}\n`);
  } finally {
    journal.close();
  }
}

function userList(options: { db: string }): void {
  const journal = Journal.open(options.db, { readonly: true });
  try {
    for (const user of journal.listUsers()) {
      process.stdout.write(`${user.name}\t${new Date(user.created).toISOString()}\n`);
    }
  } finally {
    journal.close();
  }
}

async function tailCommand(options: Omit<TailOptions, 'pollMs'>): Promise<void> {
  // `linebus tail | head -1`: the reader went away; that is a normal end.
  // Any other write error (a full disk) is one line and exit status 1.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    process.stderr.write(`linebus: cannot write to standard output: ${error.message}\n`);
    process.exit(1);
  });
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  await tail({ ...options, pollMs: 100 }, (text) => process.stdout.write(text), stop.signal);
}

export function program(): Command {
  const cli = new Command('linebus')
    .description('a line-protocol message bus over TCP with an SQLite journal')
    .version(VERSION, '-V, --version')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  cli
    .command('serve')
    .description('run the daemon in the foreground (logs to stderr)')
    .addOption(new Option('--host <address>', 'address to listen on').env('LINEBUS_HOST').default(DEFAULTS.host))
    .addOption(new Option('--port <port>', 'TCP port; 0 picks a free one').env('LINEBUS_PORT').default(DEFAULTS.port).argParser(port))
    .addOption(dbOption())
    .addOption(new Option('--max-line <bytes>', 'longest accepted line').env('LINEBUS_MAX_LINE').default(DEFAULTS.maxLine).argParser(positiveInt))
    .addOption(new Option('--max-pending <bytes>', "output waiting for a client before it is cut off with 'err slow'").env('LINEBUS_MAX_PENDING').default(DEFAULTS.maxPending).argParser(positiveInt))
    .addOption(new Option('--max-connections <n>', 'connections served at once').env('LINEBUS_MAX_CONNECTIONS').default(DEFAULTS.maxConnections).argParser(positiveInt))
    .addOption(new Option('--retain-days <n>', 'delete messages older than n days (0: keep)').env('LINEBUS_RETAIN_DAYS').default(0).argParser(wholeNumber))
    .addOption(new Option('--retain-messages <n>', 'keep only the newest n messages (0: keep all)').env('LINEBUS_RETAIN_MESSAGES').default(0).argParser(wholeNumber))
    .addOption(new Option('--sync <mode>', "commit durability: 'normal' survives a crash, 'full' also a power loss (fsync per commit)").env('LINEBUS_SYNC').choices(['normal', 'full']).default('normal'))
    .addOption(new Option('--config <file>', `settings file, re-read on SIGHUP (${CONFIG_KEYS.join(', ')})`).env('LINEBUS_CONFIG'))
    .addOption(new Option('--log-format <format>', 'log line format').env('LINEBUS_LOG_FORMAT').choices(['text', 'json']).default('text'))
    .addOption(new Option('--log-level <level>', 'lowest level logged').env('LINEBUS_LOG_LEVEL').default('info').argParser(logLevel))
    .action(serve);

  const user = cli.command('user').description('manage the users who may log in');
  user.command('add <name>').description('add a user, or change their password (one line on stdin, or a prompt)').addOption(dbOption()).action(userAdd);
  user.command('del <name>').description('delete a user').addOption(dbOption()).action(userDel);
  user.command('list').description('list users and when they were added').addOption(dbOption()).action(userList);

  cli
    .command('tail')
    .description('print journaled messages, oldest first; -f follows new ones')
    .addOption(dbOption())
    .option('-f, --follow', 'keep printing new messages until interrupted', false)
    .addOption(new Option('-n, --lines <n>', 'start with the last n messages (default 10)').argParser(wholeNumber))
    .option('--topic <pattern>', "only topics matching the pattern ('orders.>', 'news.*.sport')", '>')
    .addOption(new Option('--since <id>', 'every message after this id (at most the last -n, if given)').argParser(wholeNumber))
    .option('--json', 'one JSON object per line: id, ts, topic, sender, body', false)
    .action(tailCommand);

  return cli;
}

/**
 * Runs the CLI. Any error (a FatalError, a listen error such as
 * EADDRINUSE) is one line on stderr and exit status 1, never a stack trace.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`linebus: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
