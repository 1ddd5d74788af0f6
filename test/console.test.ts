/**
 * The console (WEB.md, `GET /`) in a real headless Chromium, driven by
 * playwright-core: log in, receive a pattern with `since`, see a message
 * sent over TCP appear, send one that a TCP client receives, lose the
 * WebSocket and lose no message, and leave a screenshot in the temp dir.
 * npm test's set-up installs Debian's chromium when it is missing.
 */
import t from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { LineClient, startServer, tempDir } from './helpers.js';
import { tool } from './tools.js';

const CHROMIUM = tool('/usr/bin/chromium');

t.test('the console in a browser: receive, send, reconnect without a gap', { timeout: 120000 }, async (t) => {
  const { server, port } = await startServer(t, { http: { port: 0 } });
  const base = `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}`;
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('send chat.room before the page', 'recv chat.>');
  t.same(await tcp.lines(2), ['ok send 1', 'ok recv chat.>']);

  // Root in a container: Chromium's sandbox needs user namespaces it may not have.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
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
  await page.waitForFunction("document.getElementById('note').textContent === 'ok send 3'");

  // The WebSocket drops; a message is sent meanwhile; the page catches up.
  await page.evaluate('ws.close()');
  await page.waitForSelector('#status.down');
  tcp.write('send chat.room while you were away');
  t.equal(await tcp.line(), 'ok send 4');
  await page.waitForSelector('tr[data-id="4"]');
  await page.waitForSelector('#status.live');
  t.same(await page.$$eval('#rows tr', (rows) => rows.map((row) => row.getAttribute('data-id'))), ['4', '3', '2', '1'], 'every message once, newest first; its own send came with the catch-up');

  const shot = join(tempDir(t), 'console.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok(statSync(shot).size > 10_000, `a screenshot in ${shot}`);
  tcp.close();
});
