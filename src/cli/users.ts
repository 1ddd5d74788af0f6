/** `linebus user add|del|list`. */
import { FatalError } from '../protocol/errors.js';
import { userNameProblem } from '../protocol/topic.js';
import { hashPassword } from '../store/passwords.js';
import { Store } from '../store/store.js';
import { readPassword } from './prompt.js';

export async function userAdd(name: string, options: { db: string }): Promise<void> {
  const problem = userNameProblem(name);
  if (problem) throw new FatalError(`${problem}: '${name}'`);
  const password = await readPassword(`password for ${name}: `);
  if (password.length === 0) throw new FatalError('empty password; give one line on stdin, or type it at the prompt');
  const hash = await hashPassword(password);
  const store = Store.open(options.db);
  try {
    const added = store.users.put(name, hash);
    process.stdout.write(`${added ? 'added' : 'changed password of'} ${name}\n`);
  } finally {
    store.close();
  }
}

export function userDel(name: string, options: { db: string }): void {
  const store = Store.open(options.db, { mustExist: true });
  try {
    if (!store.users.delete(name)) throw new FatalError(`no user '${name}' in ${options.db}; 'linebus user list' shows who there is`);
    process.stdout.write(`deleted ${name}\n`);
  } finally {
    store.close();
  }
}

export function userList(options: { db: string }): void {
  const store = Store.open(options.db, { readonly: true });
  try {
    for (const user of store.users.list()) {
      process.stdout.write(`${user.name}\t${new Date(user.created).toISOString()}\n`);
    }
  } finally {
    store.close();
  }
}
