import t from 'tap';
import { createLogger, silentLogger } from '../src/log.js';

t.test('text and json lines, levels', async (t) => {
  const lines: string[] = [];
  const text = createLogger({ write: (line) => lines.push(line) });
  text.log('debug', 'hidden');
  text.log('info', 'listening on 127.0.0.1:1', { db: '/a b/c.db', port: 1, open: true, skipped: undefined, eq: 'a=b' });
  t.equal(lines.length, 1);
  t.match(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z info listening on 127\.0\.0\.1:1 db="\/a b\/c\.db" port=1 open=true eq="a=b"\n$/);
  text.level = 'error';
  text.log('warn', 'now hidden');
  t.equal(lines.length, 1);

  const json = createLogger({ format: 'json', level: 'debug', write: (line) => lines.push(line) });
  json.log('debug', 'connected', { conn: 3, user: undefined });
  t.match(JSON.parse(lines[1] as string), { level: 'debug', msg: 'connected', conn: 3 });
  t.notOk('user' in JSON.parse(lines[1] as string));
  silentLogger.log('error', 'nowhere');
  const stderr = createLogger();
  t.equal(stderr.level, 'info');
});
