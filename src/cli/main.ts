/**
 * The `linebus` command line (CLI.md): a thin commander program over the
 * library. Every option that names a place or a limit can also come from a
 * LINEBUS_* environment variable.
 */
import { Command, Option } from 'commander';
import { DEFAULTS } from '../limits.js';
import { version } from '../version.js';
import { DEFAULT_STREAM } from '../cluster/subjects.js';
import { atLeast, atMost, dbOption, durationOption, logLevel, port, positiveInt, sinceOption, switchesFromEnv, wholeNumber } from './options.js';
import { requestCommand, sendCommand } from './client-commands.js';
import { recvCommand } from './recv.js';
import type { ServeOptions } from './serve.js';
import type { TailOptions } from './tail.js';
import type { UserOptions } from './users.js';

export function program(): Command {
  const cli = new Command('linebus')
    .description('a line-protocol message bus over TCP with an SQLite journal')
    .version(version(), '-V, --version')
    .configureOutput({ outputError: (text, write) => write(text) })
    .hook('preAction', (_cli, action) => switchesFromEnv(action));

  cli
    .command('serve')
    .description('run the daemon in the foreground (logs to stderr)')
    .addOption(new Option('--host <address>', 'address to listen on').env('LINEBUS_HOST').default(DEFAULTS.host))
    .addOption(new Option('--port <port>', 'TCP port; 0 picks a free one').env('LINEBUS_PORT').default(DEFAULTS.port).argParser(port))
    .addOption(dbOption())
    .addOption(new Option('--max-line <bytes>', 'longest accepted line').env('LINEBUS_MAX_LINE').default(DEFAULTS.maxLine).argParser(positiveInt))
    .addOption(new Option('--max-pending <bytes>', "how far behind a client may fall (output it has not read) before it is cut off with 'err slow' (at least 65536)").env('LINEBUS_MAX_PENDING').default(DEFAULTS.maxPending).argParser(atLeast(65536)))
    .addOption(new Option('--max-connections <n>', 'connections served at once').env('LINEBUS_MAX_CONNECTIONS').default(DEFAULTS.maxConnections).argParser(positiveInt))
    .addOption(new Option('--max-subscriptions <n>', 'patterns one connection may receive or take at once').env('LINEBUS_MAX_SUBSCRIPTIONS').default(DEFAULTS.maxSubscriptions).argParser(positiveInt))
    .addOption(new Option('--max-ack-pending <n>', 'un-acked jobs one queue group may have out; past it the group waits for acks').env('LINEBUS_MAX_ACK_PENDING').default(DEFAULTS.maxAckPending).argParser(positiveInt))
    .addOption(new Option('--max-cursors <n>', 'durable cursors one user may have').env('LINEBUS_MAX_CURSORS').default(DEFAULTS.maxCursors).argParser(positiveInt))
    .addOption(new Option('--max-groups <n>', 'queue groups one user may make').env('LINEBUS_MAX_GROUPS').default(DEFAULTS.maxGroups).argParser(positiveInt))
    .addOption(new Option('--max-input <bytes>', 'input one connection may have waiting behind a command before it stops being read (at least 1024)').env('LINEBUS_MAX_INPUT').default(DEFAULTS.maxInput).argParser(atLeast(1024)))
    .addOption(new Option('--login-timeout <seconds>', 'a connection that has not logged in by then is closed (a web one: that has not sent a request\'s headers)').env('LINEBUS_LOGIN_TIMEOUT').default(DEFAULTS.loginTimeout).argParser(positiveInt))
    .addOption(new Option('--idle-timeout <seconds>', 'a logged-in connection that receives nothing and sends no line for this long is closed (0: never)').env('LINEBUS_IDLE_TIMEOUT').default(DEFAULTS.idleTimeout).argParser(wholeNumber))
    .addOption(new Option('--tcp-keepalive <seconds>', 'TCP keepalive probes a connection quiet this long, so a client host that vanished is found (0: never; also stops the probing of half-closed connections)').env('LINEBUS_TCP_KEEPALIVE').default(DEFAULTS.tcpKeepalive).argParser(wholeNumber))
    .addOption(new Option('--retain-days <n>', 'delete messages older than n days (0: keep)').env('LINEBUS_RETAIN_DAYS').default(0).argParser(wholeNumber))
    .addOption(new Option('--retain-messages <n>', 'keep only the newest n messages (0: keep all)').env('LINEBUS_RETAIN_MESSAGES').default(0).argParser(wholeNumber))
    .addOption(new Option('--replay-memory <bytes>', 'the newest messages kept in memory too, for replays and catch-ups that read them (0: none)').env('LINEBUS_REPLAY_MEMORY').default(DEFAULTS.replayMemory).argParser(wholeNumber))
    .addOption(new Option('--sync <mode>', "commit durability: 'normal' survives a crash, 'full' also a power loss (fsync per commit)").env('LINEBUS_SYNC').choices(['normal', 'full']).default('normal'))
    .addOption(new Option('--tls-host <address>', 'address of the TLS listener (default: --host), say a public one while --host stays 127.0.0.1').env('LINEBUS_TLS_HOST'))
    .addOption(new Option('--tls-port <port>', 'also serve the protocol over TLS on this port (needs --tls-cert and --tls-key)').env('LINEBUS_TLS_PORT').argParser(port))
    .addOption(new Option('--tls-cert <file>', 'TLS certificate chain, PEM; re-read on SIGHUP').env('LINEBUS_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'TLS private key, PEM; re-read on SIGHUP').env('LINEBUS_TLS_KEY'))
    .addOption(new Option('--tls-ca <file>', 'CA certificates, PEM, for --tls-verify').env('LINEBUS_TLS_CA'))
    .addOption(new Option('--tls-verify', 'TLS clients must show a certificate signed by --tls-ca').env('LINEBUS_TLS_VERIFY'))
    .addOption(new Option('--http-port <port>', 'also serve HTTP (streams, server-sent events, WebSocket, console, /metrics) on this port; HTTPS with --tls-cert and --tls-key').env('LINEBUS_HTTP_PORT').argParser(port))
    .addOption(new Option('--http-host <address>', 'address of the web listener (default: --host)').env('LINEBUS_HTTP_HOST'))
    .addOption(new Option('--http-origin <origins>', "comma-separated origins besides the listener's own whose pages may use the web listener").env('LINEBUS_HTTP_ORIGIN'))
    .addOption(new Option('--http-host-name <names>', 'comma-separated names the web listener is reached by besides its address (and localhost on loopback)').env('LINEBUS_HTTP_HOST_NAME'))
    .addOption(new Option('--http-body-timeout <seconds>', 'a web request not received whole by then (its body included) is answered 408 and closed').env('LINEBUS_HTTP_BODY_TIMEOUT').default(DEFAULTS.httpBodyTimeout).argParser(positiveInt))
    .addOption(new Option('--max-post-bytes <bytes>', 'the longest body of a POST').env('LINEBUS_MAX_POST_BYTES').default(DEFAULTS.maxPostBytes).argParser(positiveInt))
    .addOption(new Option('--max-post-lines <n>', 'the most lines (messages) in the body of a POST').env('LINEBUS_MAX_POST_LINES').default(DEFAULTS.maxPostLines).argParser(positiveInt))
    .addOption(new Option('--metrics-open', '/metrics answers without credentials even when there are users').env('LINEBUS_METRICS_OPEN'))
    .addOption(new Option('--mqtt-port <port>', 'also serve MQTT 3.1.1 and 3.1 on this port (conventionally 1883)').env('LINEBUS_MQTT_PORT').argParser(port))
    .addOption(new Option('--mqtt-host <address>', 'address of the MQTT listeners (default: --host)').env('LINEBUS_MQTT_HOST'))
    .addOption(new Option('--mqtt-tls-port <port>', 'also serve MQTT over TLS on this port (conventionally 8883; needs --tls-cert and --tls-key)').env('LINEBUS_MQTT_TLS_PORT').argParser(port))
    .addOption(new Option('--mqtt-inflight <n>', 'QoS 1 and 2 messages an MQTT client may have unacknowledged, 1 to 65535; past them the rest wait').env('LINEBUS_MQTT_INFLIGHT').default(DEFAULTS.mqttInflight).argParser(atMost(65535)))
    .addOption(new Option('--acl <file>', 'access file: which user may read and write which topics; re-read on SIGHUP').env('LINEBUS_ACL'))
    .addOption(new Option('--cluster <urls>', 'share one bus with other daemons through NATS JetStream: comma-separated nats://host:4222 URLs').env('LINEBUS_CLUSTER'))
    .addOption(new Option('--cluster-stream <name>', 'the JetStream stream (made if missing); topics are its subjects under this name').env('LINEBUS_CLUSTER_STREAM').default(DEFAULT_STREAM))
    .addOption(new Option('--cluster-replicas <n>', 'replicas of the stream when this daemon makes it (3 for a three-node NATS cluster)').env('LINEBUS_CLUSTER_REPLICAS').default(1).argParser(atMost(5)))
    .addOption(new Option('--config <file>', "settings file ('name value' lines, any option above by its long name), re-read on SIGHUP").env('LINEBUS_CONFIG'))
    .addOption(new Option('--log-format <format>', 'log line format').env('LINEBUS_LOG_FORMAT').choices(['text', 'json']).default('text'))
    .addOption(new Option('--log-level <level>', 'lowest level logged').env('LINEBUS_LOG_LEVEL').default('info').argParser(logLevel))
    // Loaded when used: the daemon's modules (ws, prom-client) would slow every client command's start.
    .action(async (options: ServeOptions, command: Command) => (await import('./serve.js')).serve(options, command));

  const user = cli.command('user').description('manage the users who may log in');
  // --cluster has no environment variable here: where a user goes is said on the command line.
  const usersOf = (command: Command): Command =>
    command
      .addOption(dbOption())
      .addOption(new Option('--cluster <urls>', "the users of a cluster, in its bucket '<stream>_users' that every daemon reads, instead of the journal's"))
      .addOption(new Option('--cluster-stream <name>', 'the stream of that cluster').env('LINEBUS_CLUSTER_STREAM').default(DEFAULT_STREAM))
      .addOption(new Option('--cluster-replicas <n>', 'replicas of the bucket when this command makes it').env('LINEBUS_CLUSTER_REPLICAS').default(1).argParser(atMost(5)));
  // Loaded when used, as serve's: the journal's modules (better-sqlite3) would slow send and recv.
  usersOf(user.command('add <name>').description('add a user, or change their password (one line on stdin, or a prompt)')).action(async (name: string, options: UserOptions) => (await import('./users.js')).userAdd(name, options));
  usersOf(user.command('del <name>').description('delete a user')).action(async (name: string, options: UserOptions) => (await import('./users.js')).userDel(name, options));
  usersOf(user.command('list').description('list users and when they were added')).action(async (options: UserOptions) => (await import('./users.js')).userList(options));

  cli
    .command('tail')
    .description('print journaled messages, oldest first; -f follows new ones')
    .addOption(dbOption())
    .option('-f, --follow', 'keep printing new messages until interrupted', false)
    .addOption(new Option('-n, --lines <n>', 'start with the last n messages (default 10)').argParser(wholeNumber))
    .option('--topic <pattern>', "only topics matching the pattern ('orders.>', 'news.*.sport')", '>')
    .addOption(new Option('--since <start>', 'every message after this id, or of the last 15m, 2h, 7d, or since an ISO-8601 time (at most the last -n, if given)').argParser(sinceOption))
    .option('--json', 'one JSON object per line: id, ts, topic, sender, body', false)
    .action(async (options: Omit<TailOptions, 'pollMs'>) => (await import('./tail.js')).tailCommand(options));

  const connection = (command: Command): Command =>
    command
      .addOption(new Option('--host <address>', 'the daemon').env('LINEBUS_HOST').default(DEFAULTS.host))
      .addOption(new Option('--port <port>', 'its port').env('LINEBUS_PORT').default(DEFAULTS.port).argParser(port))
      .addOption(new Option('--user <name>', 'log in as (open mode: any name; default: $USER)').env('LINEBUS_USER'))
      .addOption(new Option('--password <password>', 'the password').env('LINEBUS_PASSWORD'))
      .addOption(new Option('--tls', 'connect over TLS').env('LINEBUS_TLS'))
      .addOption(new Option('--tls-ca <file>', 'CA certificates, PEM, to trust (implies --tls)').env('LINEBUS_TLS_CA'))
      .addOption(new Option('--tls-cert <file>', 'client certificate, PEM, for a server with --tls-verify (with --tls-key; implies --tls)').env('LINEBUS_TLS_CERT'))
      .addOption(new Option('--tls-key <file>', "the client certificate's private key, PEM").env('LINEBUS_TLS_KEY'))
      .addOption(new Option('--tls-servername <name>', 'the name the server certificate must hold (default: --host, unless an IP address)').env('LINEBUS_TLS_SERVERNAME'))
      .addOption(new Option('--url <url>', 'linebus://user:password@host:port, linebuss:// for TLS (instead of the options above)').env('LINEBUS_URL'))
      .addOption(new Option('--connect-timeout <seconds>', "give up when the server's greeting has not come by then").env('LINEBUS_CONNECT_TIMEOUT').default(10).argParser(positiveInt));

  connection(cli.command('send <topic> [message...]'))
    .description('send the message, or every line of stdin as one message; exit 0 once all are acknowledged')
    .option('-v, --verbose', 'print the id of each message', false)
    .action((topic: string, words: string[], flags) => sendCommand(topic, words, flags));

  connection(cli.command('recv <pattern> [command...]'))
    .description('print messages (topic id from message), catch-up first, reconnecting without loss; with -- command, run it for each')
    .addOption(new Option('--since <start>', 'begin after this id, or 15m, 2h, 7d ago, or at an ISO-8601 time').argParser((value) => (sinceOption(value), value)))
    .addOption(new Option('--last <n>', 'begin with the last n messages').argParser(wholeNumber))
    .option('--as <cursor>', 'a durable cursor: the server keeps the place, marked after each message (after the command exits 0)')
    .option('--take <group>', 'take jobs of a queue group: acked after each (after the command exits 0; nacked otherwise)')
    .addOption(new Option('--max <n>', 'with --take: jobs held at once').argParser(positiveInt))
    .addOption(new Option('-n, --count <n>', 'exit after n messages').argParser(positiveInt))
    .option('--json', 'one JSON object per line: id, topic, sender, body', false)
    .option('--reply', "send the command's first line of output as the reply to the message (the rest is printed)", false)
    .addOption(new Option('--timeout <seconds>', 'kill a command that runs longer (default: no limit)').argParser(positiveInt))
    .addOption(new Option('--retry-delay <duration>', 'with --take: a failed job is nacked to come again after this, doubled for each failure of the same job').default(1000, '1s').argParser(durationOption))
    .addOption(new Option('--retry-max <duration>', 'the longest --retry-delay grows to').default(60_000, '1m').argParser(durationOption))
    .action((pattern: string, argv: string[], flags) => recvCommand(pattern, argv, flags));

  connection(cli.command('request <topic> <message...>'))
    .description('send a request and print the first reply; exit 1 on err timeout')
    .option('--within <duration>', 'how long to wait (default 10s)')
    .action((topic: string, words: string[], flags) => requestCommand(topic, words, flags));

  pointToHelp(cli);
  return cli;
}

/** After a usage error, one line naming the help to read, not the whole help. */
function pointToHelp(command: Command, path = command.name()): void {
  command.showHelpAfterError(`(see '${path} --help')`);
  for (const sub of command.commands) pointToHelp(sub, `${path} ${sub.name()}`);
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
