/**
 * `linebus user add` at a terminal: a no-echo prompt, asked twice. A real
 * pseudo-terminal comes from script(1); keys are typed after each prompt.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { BIN, nodeCommand } from './cli-helpers.js';
import { tempDir } from './helpers.js';
import { tool } from './tools.js';

const SCRIPT = tool('script');

/** Runs `linebus args` on a terminal, answering each prompt with `keys`. */
async function typed(args: string[], answers: string[]): Promise<{ code: number | null; screen: string }> {
  const command = [...nodeCommand(), BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn(SCRIPT, ['-qec', command, '/dev/null']);
  let screen = '';
  let asked = 0;
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    screen += text;
    // Every prompt ends with ': '; answer each once, after it is shown.
    const prompts = screen.match(/(password for \S+|again): /g)?.length ?? 0;
    while (asked < prompts && asked < answers.length) child.stdin.write(answers[asked++] as string);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, screen };
}

t.test('the password is asked twice without echo', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'users.db');
  const ok = await typed(['user', 'add', 'tty', '--db', db], ['se\u007fecret\r', 'secret\r']);
  t.equal(ok.code, 0);
  t.match(ok.screen, /password for tty: \r?\nagain: \r?\nadded tty/);
  t.notMatch(ok.screen, /secret/, 'nothing typed is echoed');

  const differ = await typed(['user', 'add', 'tty2', '--db', db], ['a\r', 'b\r']);
  t.equal(differ.code, 1);
  t.match(differ.screen, /linebus: the two passwords differ; nothing changed/);

  const cancelled = await typed(['user', 'add', 'tty3', '--db', db], ['abc\u0003']);
  t.equal(cancelled.code, 1);
  t.match(cancelled.screen, /linebus: cancelled/);

  const store = Store.open(db, { readonly: true });
  t.same(store.users.list().map((user) => user.name), ['tty'], 'only the first was added');
  store.close();
});
