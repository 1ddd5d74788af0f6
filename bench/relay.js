// The load generator's ceiling: a trivial server that speaks just enough of
// the linebus protocol to be driven by the same code (login, recv, send)
// and only relays lines: no journal, no routing (every receiver gets every
// message), no checks. If a real server gets near its numbers, the number
// is the generator's, not the server's.
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 0);
const receivers = new Set();

const server = createServer({ noDelay: true }, (socket) => {
  socket.setEncoding('latin1');
  socket.write('hello relay 0\n');
  let rest = '';
  socket.on('data', (text) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop();
    let acks = '';
    let out = '';
    for (const line of lines) {
      if (line.startsWith('send ')) {
        acks += 'ok send 1\n';
        const space = line.indexOf(' ', 5);
        out += `msg ${line.slice(5, space)} 1 x ${line.slice(space + 1)}\n`;
      } else if (line.startsWith('login ')) {
        acks += `ok login ${line.split(' ')[1]}\n`;
      } else if (line.startsWith('recv ')) {
        receivers.add(socket);
        acks += `ok ${line}\n`;
      }
    }
    if (acks) socket.write(acks);
    if (out) for (const receiver of receivers) if (receiver !== socket) receiver.write(out);
  });
  socket.on('close', () => receivers.delete(socket));
  socket.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${server.address().port}`));
