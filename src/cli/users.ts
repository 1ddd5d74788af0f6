/** `linebus user add|del|list`: in the journal, or with --cluster in the cluster's bucket (cluster-users.ts). */
import { FatalError } from '../protocol/errors.js';
import { userNameProblem } from '../protocol/topic.js';
import { hashPassword } from '../store/passwords.js';
import { Store } from '../store/store.js';
import { clusterUserAdd, clusterUserDel, clusterUserList } from './cluster-users.js';
import type { Say } from './cluster-users.js';
import { clusterSettings } from './options.js';
import { readPassword } from './prompt.js';

export interface UserOptions {
  db: string;
  /** The users bucket of this cluster instead of the journal. */
  cluster?: string;
  clusterStream: string;
  clusterReplicas: number;
}

/** The command's stdout and stderr. */
const say: Say = {
  out: (line) => process.stdout.write(`${line}\n`),
  note: (line) => process.stderr.write(`linebus: ${line}\n`),
};

export async function userAdd(name: string, options: UserOptions): Promise<void> {
  const problem = userNameProblem(name);
  if (problem) throw new FatalError(`${problem}: '${name}'`);
  const cluster = options.cluster === undefined ? undefined : clusterSettings(options.cluster, options.clusterStream, options.clusterReplicas);
  const password = await readPassword(`password for ${name}: `);
  if (password.length === 0) throw new FatalError('empty password; give one line on stdin, or type it at the prompt');
  const hash = await hashPassword(password);
  if (cluster !== undefined) {
    await clusterUserAdd(name, hash, cluster, say);
    return;
  }
  const store = Store.open(options.db);
  try {
    const added = store.users.put(name, hash);
    process.stdout.write(`${added ? 'added' : 'changed password of'} ${name}\n`);
  } finally {
    store.close();
  }
}

export async function userDel(name: string, options: UserOptions): Promise<void> {
  if (options.cluster !== undefined) {
    await clusterUserDel(name, clusterSettings(options.cluster, options.clusterStream, options.clusterReplicas), say);
    return;
  }
  const store = Store.open(options.db, { mustExist: true });
  try {
    if (!store.users.delete(name)) throw new FatalError(`no user '${name}' in ${options.db}; 'linebus user list' shows who there is`);
    process.stdout.write(`deleted ${name}\n`);
  } finally {
    store.close();
  }
}

export async function userList(options: UserOptions): Promise<void> {
  if (options.cluster !== undefined) {
    await clusterUserList(clusterSettings(options.cluster, options.clusterStream, options.clusterReplicas), say);
    return;
  }
  const store = Store.open(options.db, { readonly: true });
  try {
    for (const user of store.users.list()) {
      process.stdout.write(`${user.name}\t${new Date(user.created).toISOString()}\n`);
    }
  } finally {
    store.close();
  }
}
