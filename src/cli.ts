/**
 * The `linebus` command line (CLI.md): a thin commander program over the
 * library. Every option that names a place or a limit can also come from a
 * LINEBUS_* environment variable.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { FatalError } from './errors.js';
import { Journal } from './journal.js';
import { createLogger } from './log.js';
import type { Level, LogFormat } from './log.js';
import { DEFAULTS, LinebusServer } from './server.js';
import { hashPassword, userNameProblem } from './users.js';
import { VERSION } from './version.js';
import { readPassword } from './prompt.js';
import { tail } from './tail.js';

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
  logFormat: LogFormat;
  logLevel: Level;
}

async function serve(options: ServeOptions): Promise<void> {
  const logger = createLogger({ format: options.logFormat, level: options.logLevel });
  const server = await LinebusServer.start({ ...options, logger });
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

interface TailCliOptions {
  db: string;
  follow: boolean;
  lines: number | undefined;
  topic: string;
  since: number | undefined;
  json: boolean;
}

async function tailCommand(options: TailCliOptions): Promise<void> {
  // `linebus tail | head -1`: the reader went away; that is a normal end.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
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
    .addOption(new Option('--log-format <format>', 'log line format').env('LINEBUS_LOG_FORMAT').choices(['text', 'json']).default('text'))
    .addOption(new Option('--log-level <level>', 'lowest level logged').env('LINEBUS_LOG_LEVEL').choices(['debug', 'info', 'warn', 'error']).default('info'))
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

/** Runs the CLI; a FatalError or listen error is one line and exit status 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof FatalError ? error.message : code && error instanceof Error ? error.message : undefined;
    if (message === undefined) throw error;
    process.stderr.write(`linebus: ${message}\n`);
    process.exitCode = 1;
  }
}
