/**
 * The package's exports. Importing it starts nothing (no threads, no
 * sockets, no file reads), so it is safe in a worker thread too.
 */
export { LinebusServer } from './server.js';
export type { ServerOptions } from './server.js';
export { DEFAULTS } from './limits.js';
export type { Limits } from './limits.js';
export { Store } from './store/store.js';
export type { OpenOptions, SyncMode } from './store/store.js';
export { SCHEMA_VERSION } from './store/schema.js';
export type { StoredMessage } from './store/journal.js';
export { parse } from './protocol/parser.js';
export type { Command, Verb } from './protocol/commands.js';
export type { Start } from './protocol/args.js';
export { matches, patternProblem, topicProblem } from './protocol/topic.js';
export { ERROR_CODES, ProtocolError, FatalError } from './protocol/errors.js';
export type { ErrorCode } from './protocol/errors.js';
export { createLogger } from './log.js';
export type { Logger } from './log.js';
export { version } from './version.js';
export { Client, connect } from './client/client.js';
export { LinebusError } from './client/errors.js';
export type { ConnectOptions } from './client/endpoint.js';
export type { Job, Message, RecvOptions, TakeOptions } from './client/stream.js';
