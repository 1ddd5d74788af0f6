/**
 * The console (WEB.md, `GET /`) in a real headless Chromium, driven by
 * playwright-core: log in, receive a pattern with `since`, see a message
 * sent over TCP appear, send one that a TCP client receives, lose the
 * WebSocket and lose no message, and leave a screenshot in the temp dir.
 * npm test's set-up installs Debian's chromium when it is missing. All of
 * it under the page's own Content-Security-Policy.
 */
import t from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import { LineClient, startServer, tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';
import { hashPassword } from '../src/store/passwords.js';
import { Store } from '../src/store/store.js';
import { tool } from './tools.js';

const CHROMIUM = tool('/usr/bin/chromium');

// One browser for the file (a start costs seconds of CPU); each test has a
// context of its own, as a fresh profile would be.
// Root in a container: Chromium's sandbox needs user namespaces it may not have.
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
t.teardown(() => browser.close());

async function freshBrowser(t: Teardown): Promise<BrowserContext> {
  const context = await browser.newContext();
  t.teardown(() => context.close());
  return context;
}

t.test('the console in a browser: receive, send, reconnect without a gap', { timeout: 120000 }, async (t) => {
  const { server, port } = await startServer(t, { http: { port: 0 } });
  const base = `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}`;
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('send chat.room before the page', 'recv chat.>');
  t.same(await tcp.lines(2), ['ok send 1', 'ok recv chat.>']);

  const page = await (await freshBrowser(t)).newPage();
  // The page's own Content-Security-Policy lets all of it work: its script, its style, its WebSocket.
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  await page.goto(`${base}/`);
  await page.fill('#user', 'alice');
  await page.fill('#password', 'pw');
  await page.fill('#pattern', 'chat.>');
  await page.fill('#since', '0');
  await page.click('#go');
  await page.waitForSelector('#status.live');
  t.equal(await page.textContent('#status'), 'receiving chat.>');
  await page.waitForSelector('tr[data-id="1"]');
  t.same(await page.$$eval('tr[data-id="1"] td', (cells) => cells.map((cell) => cell.textContent)), ['1', 'chat.room', 'bob', 'before the page'], 'since 0: the journal first');

  tcp.write('send chat.room hello from tcp');
  t.equal(await tcp.line(), 'ok send 2');
  await page.waitForSelector('tr[data-id="2"]');
  t.same(await page.$$eval('tr[data-id="2"] td', (cells) => cells.map((cell) => cell.textContent)), ['2', 'chat.room', 'bob', 'hello from tcp'], 'then live');

  await page.fill('#topic', 'chat.room');
  await page.fill('#message', 'hello from the browser');
  await page.click('#post');
  t.equal(await tcp.line(), 'msg chat.room 3 alice hello from the browser', 'a TCP client receives what the page sent');
  await page.waitForSelector('#note:text-is("ok send 3")');
  await page.waitForSelector('tr.mine[data-id="3"]');
  t.same(await page.$$eval('tr[data-id="3"] td', (cells) => cells.map((cell) => cell.textContent)), ['3', 'chat.room', 'alice', 'hello from the browser'], 'its own send is shown from ok send, marked as its own');
  await page.fill('#topic', 'elsewhere');
  await page.fill('#message', 'not received here');
  await page.click('#post');
  await page.waitForSelector('#note:text-is("ok send 4")');
  t.equal(await page.$('tr[data-id="4"]'), null, 'a send to a topic the pattern does not match is not shown');

  // The WebSocket drops; a message is sent meanwhile; the page catches up.
  await page.evaluate('ws.close()');
  await page.waitForSelector('#status.down');
  tcp.write('send chat.room while you were away');
  t.equal(await tcp.line(), 'ok send 5');
  await page.waitForSelector('tr[data-id="5"]');
  await page.waitForSelector('#status.live');
  t.same(await page.$$eval('#rows tr', (rows) => rows.map((row) => row.getAttribute('data-id'))), ['5', '3', '2', '1'], 'every message once, newest first: the catch-up brought its own send again and it is not shown twice');

  const shot = join(tempDir(t), 'console.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok(statSync(shot).size > 10_000, `a screenshot in ${shot}`);
  t.same(violations, [], 'nothing it does breaks its Content-Security-Policy');
  tcp.close();
});

t.test('the console logs in with its defaults in open mode; a refused login stops and says why', { timeout: 120000 }, async (t) => {
  const { server } = await startServer(t, { http: { port: 0 } });
  const base = `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}`;
  const context = await freshBrowser(t);
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.click('#go');
  await page.waitForSelector('#status.live');
  t.equal(await page.textContent('#status'), 'receiving >', 'user anonymous and no password: in');
  await page.fill('#message', 'hi');
  await page.click('#post');
  await page.waitForSelector('tr.mine[data-id="1"]');
  t.same(await page.$$eval('tr[data-id="1"] td', (cells) => cells.map((cell) => cell.textContent)), ['1', 'console', 'anonymous', 'hi']);

  // Any page can make the browser POST to the line port; its body must not
  // run. (Not the console: its policy lets it connect to its own listener only.)
  const { port, waitForLog } = await startServer(t);
  const elsewhere = await context.newPage();
  const sent = await elsewhere.evaluate(
    (url) => fetch(url, { method: 'POST', mode: 'no-cors', body: 'x\nlogin evil x\nsend deploys injected\n' }).then(() => 'answered', (error: Error) => error.name),
    `http://127.0.0.1:${port}/`,
  );
  t.equal(sent, 'TypeError', 'the browser gets no HTTP answer');
  await waitForLog(/http request on a line-protocol listener/);
  const ops = await LineClient.login(port, 'ops');
  ops.write('replay deploys since 0');
  t.equal(await ops.line(), 'ok replay deploys 0', 'nothing of the body was journaled');
  ops.close();

  const db = join(tempDir(t), 'users.db');
  const store = Store.open(db);
  store.users.put('alice', await hashPassword('right'));
  store.close();
  const { server: guarded } = await startServer(t, { db, http: { port: 0 } });
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`http://127.0.0.1:${(guarded.httpAddress() as { port: number }).port}/`);
  await page.fill('#user', 'alice');
  await page.fill('#password', 'wrong');
  await page.click('#go');
  await page.waitForSelector('#status.down');
  t.equal(await page.textContent('#status'), 'not connected');
  t.equal(await page.textContent('#note'), 'err auth bad user or password (check the user and password, then Connect)');
  t.equal(await page.evaluate('wanted'), false, 'no retry is pending');
  await page.fill('#password', 'right');
  await page.click('#go');
  await page.waitForSelector('#status.live');
  t.equal(sockets.length, 2, 'one connection for the refused login, one for the next: no retries between');
});
