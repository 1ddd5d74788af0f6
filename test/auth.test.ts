/** Users, passwords, open mode. */
import t from 'tap';
import { Store } from '../src/store/store.js';
import { isLoopback } from '../src/util/loopback.js';
import { userNameProblem } from '../src/protocol/topic.js';
import { hashPassword, verifyPassword } from '../src/store/passwords.js';
import { join } from 'node:path';
import { LineClient, startServer, tempDir } from './helpers.js';
import { quickHash } from './quick-hash.js';

t.test('password hashes', async (t) => {
  const hash = await hashPassword('s3cret pass');
  t.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.notMatch(hash, /s3cret/);
  t.equal(await verifyPassword('s3cret pass', hash), true);
  t.equal(await verifyPassword('s3cret', hash), false);
  t.equal(await verifyPassword('x', 'md5$abc'), false);
  t.equal(await verifyPassword('x', 'scrypt$1$2'), false);
  t.equal(await verifyPassword('x', 'scrypt$3$8$1$c2FsdA==$a2V5'), false, 'bad scrypt parameters (a hand-edited row) are a mismatch, not a crash');
  t.not(await hashPassword('same'), await hashPassword('same'), 'salted');
});

t.test('names and addresses', async (t) => {
  t.equal(userNameProblem('alice'), undefined);
  t.match(userNameProblem(''), /empty/);
  t.match(userNameProblem('a b'), /spaces/);
  t.match(userNameProblem('a\u0007'), /control/);
  t.match(userNameProblem('$linebus'), /cannot begin with '\$'/);
  t.match(userNameProblem('\uff04linebus'), /cannot begin with '\$'/, 'a fullwidth dollar too');
  t.match(userNameProblem('\u0301$linebus'), /combining mark/, 'an accent before it too');
  t.equal(userNameProblem('a$'), undefined);
  t.equal(userNameProblem('Ren\u00e9e\u0301'), undefined, 'marks inside a name are fine');
  t.match(userNameProblem('u'.repeat(65)), /64 bytes/);
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) t.equal(isLoopback(a), true, a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '::2', 'fe80::1', undefined]) t.equal(isLoopback(a), false, String(a));
});

t.test('users stored under a name that is no longer allowed are named at start', async (t) => {
  const db = join(tempDir(t), 'old.db');
  const journal = Store.open(db);
  journal.users.put('$ops', quickHash('pw'));
  journal.users.put('alice', quickHash('pw'));
  journal.close();
  const { port, logs } = await startServer(t, { db });
  t.ok(logs.includes(`warn users of ${db} that can no longer log in (a name may not begin with '$'): $ops; add each under another name, then 'linebus user del' it {}`));
  const alice = await LineClient.login(port, 'alice', 'pw');
  alice.close();
});

t.test('open mode: anyone on loopback, until a user is added; changes need no restart', { timeout: 20000 }, async (t) => {
  const { port, db, logs } = await startServer(t);
  t.ok(logs.some((l) => l.startsWith('warn no users in') && l.includes('open mode')), 'open mode is logged at start');
  const anyone = await LineClient.login(port, 'whoever', 'whatever');
  anyone.close();

  const journal = Store.open(db);
  t.teardown(() => journal.close());
  journal.users.put('alice', await hashPassword('right'));

  const c = await LineClient.connect(port);
  await c.line();
  c.write('login whoever whatever', 'login alice wrong', 'login nobody right', 'send x y', 'login alice right', 'send x y');
  t.same(await c.lines(6), [
    'err auth bad user or password',
    'err auth bad user or password',
    'err auth bad user or password',
    'err auth log in first: login <user> <password>',
    'ok login alice',
    'ok send 1',
  ]);
  t.notOk(logs.some((l) => l.includes('wrong') || l.includes('right')), 'passwords are never logged');
  t.ok(logs.some((l) => l.startsWith('warn login failed') && l.includes('"user":"alice"')));

  journal.users.delete('alice');
  journal.users.put('bob', await hashPassword('pw'));
  const d = await LineClient.connect(port);
  await d.line();
  d.write('login alice right');
  t.equal(await d.line(), 'err auth bad user or password', 'a deleted user cannot log in');
  c.write('send x still here');
  t.equal(await c.line(), 'ok send 2', 'a session already logged in goes on');
  d.write('login bad\u0007name pw');
  t.match(await d.line(), /^err syntax a user name cannot contain spaces, control or invisible characters/);
  d.write('login $linebus pw');
  t.match(await d.line(), /^err syntax a user name cannot begin with '\$': such names are the server's own/, 'no client passes for the sender of dead letters');
  c.close();
  d.close();
});
