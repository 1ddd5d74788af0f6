/**
 * `linebus serve`: the daemon in the foreground, with its signals (SIGHUP
 * re-reads --config, SIGTERM and SIGINT stop it cleanly).
 */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { createLogger } from '../log.js';
import type { LogFormat, Threshold } from '../log.js';
import type { ServerOptions } from '../server.js';
import { FatalError } from '../protocol/errors.js';
import type { Limits } from '../limits.js';
import { readAcl } from './acl-file.js';
import { readConfig } from './config.js';
import { missingFiles, removeMade } from './new-journal.js';
import { DaemonSignals } from './signals.js';
import { clusterSettings, onOff } from './options.js';
import type { ConfigParsers } from './config.js';

export interface ServeOptions extends Limits {
  host: string;
  port: number;
  db: string;
  config: string | undefined;
  acl: string | undefined;
  httpPort: number | undefined;
  httpHost: string | undefined;
  httpOrigin: string | undefined;
  httpHostName: string | undefined;
  metricsOpen: boolean | undefined;
  tlsHost: string | undefined;
  tlsPort: number | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsCa: string | undefined;
  tlsVerify: boolean | undefined;
  mqttPort: number | undefined;
  mqttHost: string | undefined;
  mqttTlsPort: number | undefined;
  sync: 'normal' | 'full';
  replayMemory: number;
  cluster: string | undefined;
  clusterStream: string;
  clusterReplicas: number;
  logFormat: LogFormat;
  logLevel: Threshold;
}

/** What SIGHUP can change in a running daemon; the rest needs a restart. */
const RELOADABLE: ReadonlySet<keyof ServeOptions> = new Set<keyof ServeOptions>([
  'maxLine',
  'maxPending',
  'maxConnections',
  'maxSubscriptions',
  'maxAckPending',
  'maxCursors',
  'maxGroups',
  'maxInput',
  'maxPostBytes',
  'maxPostLines',
  'loginTimeout',
  'httpBodyTimeout',
  'idleTimeout',
  'tcpKeepalive',
  'retainDays',
  'retainMessages',
  'mqttInflight',
  'logLevel',
]);

/** `max-pending` -> `maxPending`, commander's name for the option value. */
function camel(key: string): keyof ServeOptions {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof ServeOptions;
}

/** Every option of `serve` but --config is a setting of the file, read as the option reads it. */
function configParsers(command: Command): ConfigParsers {
  const parsers = new Map<string, (value: string) => unknown>();
  for (const option of command.options) {
    const name = option.long?.slice(2);
    if (name === undefined || name === 'config' || name === 'help') continue;
    parsers.set(name, (value) => {
      if (option.isBoolean()) return onOff(value);
      if (option.argChoices && !option.argChoices.includes(value)) {
        throw new InvalidArgumentError(`expected one of ${option.argChoices.join(', ')}.`);
      }
      return option.parseArg ? option.parseArg(value, undefined) : value;
    });
  }
  return parsers;
}

/**
 * The settings of the config file that the command line and environment
 * leave to it (their source is the default or the file itself); the names
 * of the others go to `overridden`.
 */
function fromConfig(path: string, command: Command, overridden: string[] = []): Partial<ServeOptions> {
  const settings: Record<string, unknown> = {};
  for (const [key, value] of readConfig(path, configParsers(command))) {
    const name = camel(key);
    const source = command.getOptionValueSource(name);
    if (source === undefined || source === 'default' || source === 'config') {
      command.setOptionValueWithSource(name, value, 'config');
      settings[name] = value;
    } else overridden.push(key);
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

/**
 * LINEBUS_WAL_PREALLOCATE_BYTES, a whole number of bytes: the WAL the
 * journal gets at start instead of 128 MiB. For test suites, which start
 * hundreds of short-lived daemons; anything else keeps the default.
 */
export function walPreallocateBytes(env: NodeJS.ProcessEnv): number | undefined {
  const bytes = env.LINEBUS_WAL_PREALLOCATE_BYTES;
  return bytes !== undefined && /^\d{1,15}$/.test(bytes) ? Number(bytes) : undefined;
}

/** The TLS listener's; --tls-ca and --tls-verify hold for HTTPS as well. */
function tlsOptions(options: ServeOptions): ServerOptions['tls'] {
  const { tlsHost, tlsPort, tlsCert, tlsKey, tlsCa, tlsVerify, httpPort, mqttTlsPort } = options;
  if (tlsVerify && tlsCa === undefined) throw new FatalError('--tls-verify needs --tls-ca, the CA that signs client certificates');
  if (tlsPort === undefined) {
    if (tlsHost !== undefined) throw new FatalError('--tls-host needs --tls-port');
    if ((tlsCert ?? tlsKey ?? tlsCa ?? tlsVerify) !== undefined && httpPort === undefined && mqttTlsPort === undefined) throw new FatalError('--tls-cert, --tls-key, --tls-ca and --tls-verify need --tls-port, --http-port or --mqtt-tls-port');
    return undefined;
  }
  if (tlsCert === undefined || tlsKey === undefined) throw new FatalError('--tls-port needs --tls-cert and --tls-key');
  return { host: tlsHost, port: tlsPort, cert: tlsCert, key: tlsKey, ca: tlsCa, verify: tlsVerify };
}

/** MQTT's listeners (MQTT.md, "Listeners"): TCP, and TLS with the TLS files (no --tls-port needed). */
function mqttOptions({ mqttPort, mqttHost, mqttTlsPort, tlsCert, tlsKey, tlsCa, tlsVerify }: ServeOptions): Pick<ServerOptions, 'mqtt' | 'mqttTls'> {
  if (mqttHost !== undefined && mqttPort === undefined && mqttTlsPort === undefined) throw new FatalError('--mqtt-host needs --mqtt-port or --mqtt-tls-port');
  if (mqttTlsPort !== undefined && (tlsCert === undefined || tlsKey === undefined)) throw new FatalError('--mqtt-tls-port needs --tls-cert and --tls-key');
  return {
    mqtt: mqttPort === undefined ? undefined : { port: mqttPort, host: mqttHost },
    mqttTls: mqttTlsPort === undefined ? undefined : { port: mqttTlsPort, host: mqttHost, cert: tlsCert as string, key: tlsKey as string, ca: tlsCa, verify: tlsVerify },
  };
}

/** Comma-separated words, trimmed, none empty. */
function list(value: string | undefined): string[] | undefined {
  return value?.split(',').map((word) => word.trim()).filter((word) => word !== '');
}

function httpOptions(options: ServeOptions): ServerOptions['http'] {
  const { httpPort, httpHost, httpOrigin, httpHostName, metricsOpen, tlsCert, tlsKey, tlsCa, tlsVerify } = options;
  if (httpPort === undefined) {
    if (httpHost ?? httpOrigin ?? httpHostName ?? metricsOpen) throw new FatalError('--http-host, --http-origin, --http-host-name and --metrics-open need --http-port');
    return undefined;
  }
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new FatalError('HTTPS needs both --tls-cert and --tls-key');
  if (tlsCert === undefined && tlsCa !== undefined) throw new FatalError('--tls-ca and --tls-verify on the web listener need HTTPS: give --tls-cert and --tls-key too');
  const tls = tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey, ca: tlsCa, verify: tlsVerify } : undefined;
  return { port: httpPort, host: httpHost, tls, origins: list(httpOrigin), hostNames: list(httpHostName), metricsOpen: metricsOpen === true };
}

function clusterOptions({ cluster, clusterStream, clusterReplicas }: ServeOptions): ServerOptions['cluster'] {
  return cluster === undefined ? undefined : clusterSettings(cluster, clusterStream, clusterReplicas);
}

export async function serve(cliOptions: ServeOptions, command: Command): Promise<void> {
  const options = cliOptions.config ? { ...cliOptions, ...fromConfig(cliOptions.config, command) } : cliOptions;
  const logger = createLogger({ format: options.logFormat, level: options.logLevel });
  const acl = options.acl === undefined ? undefined : readAcl(options.acl);
  const settings = { ...options, acl, tls: tlsOptions(options), http: httpOptions(options), ...mqttOptions(options), cluster: clusterOptions(options), listenFd: inheritedSocket(process.env), walPreallocateBytes: walPreallocateBytes(process.env), logger };
  const missing = missingFiles(options.db);
  // Before the daemon can say it is ready: see DaemonSignals.
  const signals = new DaemonSignals(logger);
  // The daemon's modules, loaded once the options are found good: a serve
  // that refuses its flags or files says so without loading them.
  const { LinebusServer } = await import('../server.js');
  const server = await LinebusServer.start(settings).catch((error: unknown) => {
    removeMade(options.db, missing);
    throw error;
  });
  signals.started(server, () => {
    const users = server.store.users.list().length;
    try {
      server.reloadTls();
      if (options.tlsCert !== undefined) logger.log('info', `SIGHUP: TLS certificate and key re-read from ${options.tlsCert}, ${options.tlsKey}`);
    } catch (error) {
      logger.log('error', `SIGHUP: kept the old TLS certificate and key: ${(error as Error).message}`);
    }
    if (options.acl !== undefined) {
      try {
        server.acl = readAcl(options.acl);
        logger.log('info', `SIGHUP: access rules reloaded from ${options.acl}`);
      } catch (error) {
        logger.log('error', `SIGHUP: kept the old access rules: ${(error as Error).message}`);
      }
    }
    if (!options.config) {
      logger.log('info', 'SIGHUP: users are read at every login; no --config file, so limits are unchanged', { users });
      return;
    }
    try {
      const overridden: string[] = [];
      const next = fromConfig(options.config, command, overridden);
      const changed = server.reconfigure(next as Partial<Limits>);
      if (next.logLevel !== undefined && next.logLevel !== logger.level) {
        changed.push(`logLevel ${logger.level} -> ${next.logLevel}`);
        logger.level = next.logLevel;
      }
      for (const [key, value] of Object.entries(next) as [keyof ServeOptions, unknown][]) {
        if (!RELOADABLE.has(key) && value !== options[key]) {
          changed.push(`${key} ${String(options[key])} -> ${String(value)} needs a restart, kept ${String(options[key])}`);
        }
      }
      const elsewhere = overridden.length > 0 ? `; the command line or environment wins for ${overridden.join(', ')}` : '';
      logger.log('info', `SIGHUP: reloaded ${options.config}: ${changed.length > 0 ? changed.join(', ') : 'nothing changed'}${elsewhere}`, { users });
    } catch (error) {
      logger.log('error', `SIGHUP: kept the old settings: ${(error as Error).message}`);
    }
  });
}
