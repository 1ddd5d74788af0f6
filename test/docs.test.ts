/** The man pages and systemd units ship in a state that tools accept. */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';
import { BIN, ENV, NO_LOADER, nodeCommand } from './cli-helpers.js';
import { tool } from './tools.js';
import { ERROR_CODES } from '../src/protocol/errors.js';
import { HELP_VERBS } from '../src/protocol/commands.js';
import { MQTT_REFUSALS } from '../src/mqtt/refusals.js';

// Tests run compiled, from dist/test.
const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { man: string[]; version: string };

t.test('man pages lint clean and say what the code does', { timeout: 60000 }, async (t) => {
  const groff = tool('groff');
  t.same(pkg.man, ['man/linebus.1', 'man/linebus-protocol.7', 'man/linebus-mqtt.7']);
  for (const page of pkg.man) {
    const lint = spawnSync(groff, ['-man', '-ww', '-z', '-Tutf8', join(root, page)], { encoding: 'utf8' });
    t.equal(lint.status, 0, `${page}: groff exit status`);
    t.equal(lint.stderr, '', `${page}: no warnings`);
    const text = readFileSync(join(root, page), 'utf8');
    // groff takes a stray control byte (a form feed typed for \f) without a
    // warning, and man shows it as a letter.
    const control = /[\x00-\x08\x0b-\x1f\x7f]/.exec(text);
    t.equal(control && `byte 0x${(control[0].codePointAt(0) as number).toString(16)} on line ${text.slice(0, control.index).split('\n').length}`, null, `${page}: no control characters`);
    t.match(text, new RegExp(`"linebus ${pkg.version.replace(/\./g, '\\.')}"`), `${page}: version`);
    const sections = [...text.matchAll(/^\.SH (.+)$/gm)].map((m) => m[1]);
    t.equal(sections[0], 'NAME');
    t.ok(sections.includes('EXAMPLES'), `${page}: EXAMPLES`);
    t.equal(sections[sections.length - 1], 'SEE ALSO');
  }
  const cli = readFileSync(join(root, 'man/linebus.1'), 'utf8');
  for (const section of ['SYNOPSIS', 'OPTIONS', 'EXIT STATUS', 'SIGNALS', 'ENVIRONMENT', 'FILES']) t.match(cli, `.SH ${section}\n`);
  const [node, ...nodeArgs] = nodeCommand() as [string, ...string[]];
  const help = execFileSync(node, [...nodeArgs, BIN, 'serve', '--help'], { encoding: 'utf8' });
  const synopsis = cli.slice(cli.indexOf('.SH SYNOPSIS'), cli.indexOf('.B user add'));
  for (const option of help.matchAll(/--([a-z-]+)/g)) {
    if (option[1] === 'help') continue;
    const roff = `\\-\\-${(option[1] as string).replace(/-/g, '\\-')}`;
    t.match(cli, roff, `linebus.1 documents --${option[1]}`);
    t.ok(synopsis.includes(`${roff}\n`) || synopsis.includes(`${roff} `), `linebus.1's SYNOPSIS of serve has --${option[1]}`);
  }
  const protocol = readFileSync(join(root, 'man/linebus-protocol.7'), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) t.match(protocol, `.B ${code}\n`, `linebus-protocol.7 documents err ${code}`);
  for (const verb of HELP_VERBS) t.match(protocol, new RegExp(`^\\.(B|BI|BR|TP)[^\\n]*\\b${verb}\\b`, 'm'), `linebus-protocol.7 documents ${verb}`);
  const mqtt = readFileSync(join(root, 'man/linebus-mqtt.7'), 'utf8');
  const refusals = mqtt.slice(mqtt.indexOf('.SS Refusals'), mqtt.indexOf('.SS Limits'));
  for (const reason of Object.keys(MQTT_REFUSALS)) t.ok(refusals.includes(reason.replace(/-/g, '\\-')), `linebus-mqtt.7 documents the refusal ${reason}`);
});

t.test('systemd units verify clean', { timeout: 60000 }, async (t) => {
  const systemdAnalyze = tool('systemd-analyze');
  const dir = tempDir(t);
  // The man pages where `man` finds them, and ExecStart pointing at this
  // checkout's bin/linebus instead of the installed one.
  for (const page of pkg.man) {
    const section = page.slice(-1);
    mkdirSync(join(dir, 'man', `man${section}`), { recursive: true });
    copyFileSync(join(root, page), join(dir, 'man', `man${section}`, page.slice(4)));
  }
  const service = readFileSync(join(root, 'systemd/linebus.service'), 'utf8');
  t.match(service, /^ExecStart=\/usr\/local\/bin\/linebus serve --db \/var\/lib\/linebus\/linebus\.db$/m);
  for (const setting of ['DynamicUser=yes', 'StateDirectory=linebus', 'Type=simple', 'Restart=on-failure', 'ExecReload=/bin/kill -HUP $MAINPID', 'ProtectSystem=strict', 'PrivateDevices=yes', 'CapabilityBoundingSet=', 'SystemCallFilter=@system-service']) {
    t.match(service, `\n${setting}\n`);
  }
  t.notMatch(service, /^MemoryDenyWriteExecute/m, 'V8 needs W+X memory');
  writeFileSync(join(dir, 'linebus.service'), service.replace('/usr/local/bin/linebus', BIN));
  copyFileSync(join(root, 'systemd/linebus.socket'), join(dir, 'linebus.socket'));
  const verify = spawnSync(systemdAnalyze, ['verify', './linebus.socket', './linebus.service'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, MANPATH: join(dir, 'man') },
  });
  t.equal(verify.stderr, '');
  t.equal(verify.status, 0);
});

t.test('the package holds what an installed linebus needs, and no tests', { timeout: 60000 }, async (t) => {
  const packed = spawnSync(ENV, [...NO_LOADER, 'npm', 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  t.equal(packed.status, 0, packed.stderr);
  const files = new Set((JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path));
  for (const file of ['bin/linebus', 'dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/store/checkpoint-worker.js', 'man/linebus.1', 'man/linebus-protocol.7', 'man/linebus-mqtt.7', 'systemd/linebus.service', 'systemd/linebus.socket', 'web/console.html', 'package.json', 'README.md']) {
    t.ok(files.has(file), file);
  }
  t.notOk([...files].some((f) => f.startsWith('dist/test/') || f.startsWith('test/')), 'no tests');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  t.equal(manifest.engines.node, '>=20 <25', 'Node 20 to 24, as the README says');
});
