/**
 * Which JetStream stream a journal copies (cluster mode). Its ids are that
 * stream's sequence numbers, so a journal with messages of its own, or of
 * another stream, must never take a stream's messages: the ids would clash.
 */
import type Database from 'better-sqlite3';

export interface StreamIdentity {
  readonly stream: string;
  /** When JetStream made the stream: a stream deleted and made again is another stream. */
  readonly created: string;
}

export class ClusterStore {
  readonly #get: Database.Statement<[], StreamIdentity>;
  readonly #claim: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.#get = db.prepare('SELECT stream, created FROM cluster LIMIT 1');
    this.#claim = db.prepare('INSERT INTO cluster (stream, created) VALUES (?, ?)');
  }

  /** The stream this journal copies, if it was ever a cluster daemon's. */
  identity(): StreamIdentity | undefined {
    return this.#get.get();
  }

  claim(identity: StreamIdentity): void {
    this.#claim.run(identity.stream, identity.created);
  }
}

/**
 * Why a journal cannot copy `stream`, or undefined: it has messages of
 * its own, copies another stream, or is ahead of the stream (which then
 * lost messages, and would hand out ids the journal has).
 */
export function identityProblem(path: string, journal: StreamIdentity | undefined, lastId: number, stream: StreamIdentity, streamLastSeq: number): string | undefined {
  const use = 'give this daemon a journal of its own (a new --db): it fills from the stream';
  if (journal === undefined) {
    return lastId > 0 ? `${path} has messages up to id ${lastId} that are not the stream's (written without --cluster); ${use}` : undefined;
  }
  if (journal.stream !== stream.stream || journal.created !== stream.created) {
    return `${path} copies stream ${journal.stream} made ${journal.created}, not stream ${stream.stream} made ${stream.created} (deleted and made again?); ${use}`;
  }
  if (lastId > streamLastSeq) {
    return `${path} has messages up to id ${lastId} but stream ${stream.stream} ends at ${streamLastSeq}: the stream lost messages; restore it, or ${use}`;
  }
  return undefined;
}
