// Protocol clients for the load generator: linebus (and the relay, which
// speaks the same lines), Redis (pub/sub and Streams), NATS (core and
// JetStream). Each system gets the same interface, so every scenario drives
// every system with the same code:
//
//   publisher() -> { send(topic, body), acked, sent, close() }
//       acked counts the publishes the server confirmed (linebus `ok send`,
//       Redis integer/bulk replies, JetStream acks; NATS core has none, so
//       a PING every 10 publishes stands for them).
//   subscriber(topicOrPattern, onMessage) -> { received, close() }
//       onMessage(body) is called for each delivered message.
import { connect } from 'node:net';

const CRLF = Buffer.from('\r\n');

function open(port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Coalesces writes made in one turn into one socket write. */
function writer(socket) {
  let pending = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    socket.write(pending.length === 1 ? pending[0] : pending.join(''));
    pending = [];
  };
  return (text) => {
    pending.push(text);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
}

/** Calls onLine for each LF-terminated line (without the LF). */
function lines(socket, onLine) {
  let rest = '';
  socket.setEncoding('utf8');
  socket.on('data', (text) => {
    const parts = (rest + text).split('\n');
    rest = parts.pop();
    for (const line of parts) onLine(line);
  });
}

function waitFor(check, what, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setImmediate(poll);
    };
    poll();
  });
}

// --- linebus (and the relay) ------------------------------------------------

export function linebusDriver(port, name = 'linebus') {
  let users = 0;
  async function session(onLine) {
    const socket = await open(port);
    const state = { ready: false };
    lines(socket, (line) => {
      if (!state.ready) {
        if (line.startsWith('ok login')) state.ready = true;
        return;
      }
      onLine(line);
    });
    socket.write(`login bench${users++} pw\n`);
    await waitFor(() => state.ready, 'login');
    return socket;
  }
  return {
    name,
    async publisher() {
      const pub = { sent: 0, acked: 0 };
      const socket = await session((line) => {
        if (line.startsWith('ok send')) pub.acked++;
      });
      const write = writer(socket);
      pub.send = (topic, body) => {
        pub.sent++;
        write(`send ${topic} ${body}\n`);
      };
      pub.close = () => socket.destroy();
      return pub;
    },
    async subscriber(pattern, onMessage, start = '') {
      const sub = { received: 0, subscribed: false, done: false };
      const socket = await session((line) => {
        if (line.startsWith('msg ')) {
          sub.received++;
          if (onMessage) {
            // msg <topic> <id> <from> <body>
            let at = 4;
            for (let i = 0; i < 3; i++) at = line.indexOf(' ', at) + 1;
            onMessage(line.slice(at));
          }
        } else if (line.startsWith('ok recv')) {
          sub.subscribed = true;
        } else if (line.startsWith('ok replay')) {
          sub.done = true;
        }
      });
      socket.write(`${start ? start : `recv ${pattern}`}\n`);
      if (!start.startsWith('replay')) await waitFor(() => sub.subscribed, 'recv');
      sub.close = () => socket.destroy();
      sub.socket = socket;
      return sub;
    },
    /** Replays every journaled message of `topic`; resolves with the count. */
    async replay(topic) {
      const sub = await this.subscriber(topic, undefined, `replay ${topic} since 0`);
      await waitFor(() => sub.done, 'replay', 600000);
      sub.close();
      return sub.received;
    },
    /** An idle, logged-in, receiving connection (for RSS per connection). */
    async idle(i) {
      const sub = await this.subscriber(`idle.${i}`);
      return sub;
    },
    /** The server's `stats`, as an object. */
    async stats() {
      const figures = {};
      let done = false;
      const socket = await session((line) => {
        if (line.startsWith('stat ')) {
          const [, key, value] = line.split(' ');
          figures[key] = Number.isNaN(Number(value)) ? value : Number(value);
        } else if (line.startsWith('ok stats')) {
          done = true;
        }
      });
      socket.write('stats\n');
      await waitFor(() => done, 'stats');
      socket.destroy();
      return figures;
    },
  };
}

// --- Redis ------------------------------------------------------------------

/**
 * A minimal incremental RESP2 parser: calls onReply(value) for each
 * top-level reply. Arrays are JS arrays, bulk strings are strings.
 */
function resp(socket, onReply) {
  let buffer = Buffer.alloc(0);
  const parse = (at) => {
    const end = buffer.indexOf(CRLF, at);
    if (end === -1) return undefined;
    const type = buffer[at];
    const head = buffer.toString('latin1', at + 1, end);
    if (type === 0x2b || type === 0x2d) return { value: head, next: end + 2 };
    if (type === 0x3a) return { value: Number(head), next: end + 2 };
    if (type === 0x24) {
      const length = Number(head);
      if (length < 0) return { value: null, next: end + 2 };
      if (buffer.length < end + 2 + length + 2) return undefined;
      return { value: buffer.toString('utf8', end + 2, end + 2 + length), next: end + 2 + length + 2 };
    }
    const count = Number(head);
    const items = [];
    let next = end + 2;
    for (let i = 0; i < count; i++) {
      const item = parse(next);
      if (item === undefined) return undefined;
      items.push(item.value);
      next = item.next;
    }
    return { value: items, next };
  };
  socket.on('data', (chunk) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    let at = 0;
    for (;;) {
      const reply = parse(at);
      if (reply === undefined) break;
      at = reply.next;
      onReply(reply.value);
    }
    buffer = buffer.subarray(at);
  });
}

function command(...args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

/** Redis pub/sub (`streams: false`) or Redis Streams (`streams: true`). */
export function redisDriver(port, { streams }) {
  const name = streams ? 'redis-streams' : 'redis-pubsub';
  return {
    name,
    async publisher() {
      const pub = { sent: 0, acked: 0 };
      const socket = await open(port);
      resp(socket, () => pub.acked++);
      const write = writer(socket);
      pub.send = streams
        ? (topic, body) => {
            pub.sent++;
            write(command('XADD', topic, '*', 'b', body));
          }
        : (topic, body) => {
            pub.sent++;
            write(command('PUBLISH', topic, body));
          };
      pub.close = () => socket.destroy();
      return pub;
    },
    async subscriber(pattern, onMessage) {
      const sub = { received: 0, subscribed: false };
      const socket = await open(port);
      if (!streams) {
        const wildcard = pattern.includes('*');
        resp(socket, (reply) => {
          const kind = reply[0];
          if (kind === 'message' || kind === 'pmessage') {
            sub.received++;
            if (onMessage) onMessage(reply[reply.length - 1]);
          } else {
            sub.subscribed = true;
          }
        });
        socket.write(wildcard ? command('PSUBSCRIBE', pattern) : command('SUBSCRIBE', pattern));
        await waitFor(() => sub.subscribed, 'subscribe');
      } else {
        // Streams have no patterns: `pattern` is a list of stream keys, read
        // together with XREAD BLOCK. Every scenario uses fresh keys, so
        // reading from 0-0 sees exactly what the scenario adds, however
        // soon after this the publishers start.
        const keys = Array.isArray(pattern) ? pattern : [pattern];
        const last = keys.map(() => '0-0');
        let closed = false;
        const read = () => !closed && socket.write(command('XREAD', 'BLOCK', '0', 'COUNT', '1000', 'STREAMS', ...keys, ...last));
        resp(socket, (reply) => {
          for (const [key, entries] of reply ?? []) {
            const index = keys.indexOf(key);
            for (const [id, fields] of entries) {
              sub.received++;
              last[index] = id;
              if (onMessage) onMessage(fields[1]);
            }
          }
          read();
        });
        read();
        sub.close = () => {
          closed = true;
          socket.destroy();
        };
        return sub;
      }
      sub.close = () => socket.destroy();
      return sub;
    },
    async replay(key) {
      const socket = await open(port);
      let received = 0;
      let done = false;
      resp(socket, (entries) => {
        received += entries.length;
        if (entries.length < 1000) {
          done = true;
          return;
        }
        // Exclusive start after the last id: XRANGE key (id + COUNT 1000.
        socket.write(command('XRANGE', key, `(${entries[entries.length - 1][0]}`, '+', 'COUNT', '1000'));
      });
      socket.write(command('XRANGE', key, '-', '+', 'COUNT', '1000'));
      await waitFor(() => done, 'XRANGE', 600000);
      socket.destroy();
      return received;
    },
    async idle(i) {
      return this.subscriber(`idle.${i}`);
    },
  };
}

// --- NATS -------------------------------------------------------------------

/** A NATS client connection: MSG parsing, SUB, PUB, PING/PONG. */
async function natsConnection(port) {
  const socket = await open(port);
  const handlers = new Map();
  const pongs = [];
  let buffer = Buffer.alloc(0);
  let nextSid = 1;
  socket.on('data', (chunk) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    let at = 0;
    for (;;) {
      const end = buffer.indexOf(CRLF, at);
      if (end === -1) break;
      const op = buffer.toString('latin1', at, Math.min(end, at + 4));
      if (op === 'MSG ') {
        const head = buffer.toString('latin1', at + 4, end).split(' ');
        const size = Number(head[head.length - 1]);
        if (buffer.length < end + 2 + size + 2) break;
        const handler = handlers.get(head[1]);
        if (handler) handler(buffer.toString('utf8', end + 2, end + 2 + size), head[0]);
        at = end + 2 + size + 2;
        continue;
      }
      if (op === 'PING') socket.write('PONG\r\n');
      else if (op === 'PONG') pongs.shift()?.();
      else if (op === '-ERR') throw new Error(`nats: ${buffer.toString('latin1', at, end)}`);
      at = end + 2;
    }
    buffer = buffer.subarray(at);
  });
  socket.write('CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\n');
  const write = writer(socket);
  const connection = {
    socket,
    write,
    sub(subject, handler) {
      const sid = String(nextSid++);
      handlers.set(sid, handler);
      write(`SUB ${subject} ${sid}\r\n`);
      return sid;
    },
    pub(subject, body, reply) {
      write(`PUB ${subject}${reply ? ` ${reply}` : ''} ${Buffer.byteLength(body)}\r\n${body}\r\n`);
    },
    /** Resolves once the server has processed everything written before. */
    flush() {
      return new Promise((resolve) => {
        pongs.push(resolve);
        write('PING\r\n');
      });
    },
    /** A request/reply on a fresh inbox. */
    async request(subject, body) {
      const inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
      const reply = new Promise((resolve) => connection.sub(inbox, (data) => resolve(JSON.parse(data))));
      connection.pub(subject, body, inbox);
      return reply;
    },
  };
  await connection.flush();
  return connection;
}

/** NATS core (`jetstream: false`) or a JetStream file-store stream. */
export function natsDriver(port, { jetstream }) {
  const name = jetstream ? 'nats-jetstream' : 'nats-core';
  let consumers = 0;
  const driver = {
    name,
    /** JetStream: one file-store stream over js.>, created once. */
    async setup() {
      if (!jetstream) return;
      const c = await natsConnection(port);
      const created = await c.request('$JS.API.STREAM.CREATE.bench', JSON.stringify({ name: 'bench', subjects: ['js.>'], storage: 'file', retention: 'limits', discard: 'old' }));
      if (created.error) throw new Error(`nats: ${JSON.stringify(created.error)}`);
      c.socket.destroy();
    },
    async publisher() {
      const pub = { sent: 0, acked: 0 };
      const c = await natsConnection(port);
      if (jetstream) {
        c.sub('_ACK.>', () => pub.acked++);
        await c.flush();
        pub.send = (topic, body) => {
          pub.sent++;
          c.pub(`js.${topic}`, body, `_ACK.${pub.sent}`);
        };
      } else {
        // Core NATS does not acknowledge: one PONG stands for 10 publishes
        // (fewer than any publisher's share of the window).
        pub.send = (topic, body) => {
          pub.sent++;
          c.pub(topic, body);
          if (pub.sent % 10 === 0) void c.flush().then(() => (pub.acked += 10));
        };
        pub.finish = () => c.flush().then(() => (pub.acked = pub.sent));
      }
      pub.close = () => c.socket.destroy();
      return pub;
    },
    async subscriber(pattern, onMessage, deliverPolicy = 'new') {
      const sub = { received: 0 };
      const c = await natsConnection(port);
      const handler = (body) => {
        sub.received++;
        if (onMessage) onMessage(body);
      };
      if (jetstream) {
        // A push consumer with no acks, delivering to a subject of ours.
        const deliver = `deliver.${consumers++}`;
        c.sub(deliver, handler);
        await c.flush();
        const created = await c.request(
          '$JS.API.CONSUMER.CREATE.bench',
          JSON.stringify({ stream_name: 'bench', config: { deliver_subject: deliver, ack_policy: 'none', deliver_policy: deliverPolicy, filter_subject: `js.${pattern}`, max_ack_pending: -1 } }),
        );
        if (created.error) throw new Error(`nats: ${JSON.stringify(created.error)}`);
      } else {
        c.sub(pattern, handler);
        await c.flush();
      }
      sub.close = () => c.socket.destroy();
      return sub;
    },
    async replay(topic, count) {
      const sub = await driver.subscriber(topic, undefined, 'all');
      await waitFor(() => sub.received >= count, 'JetStream replay', 600000);
      sub.close();
      return sub.received;
    },
    async idle(i) {
      return driver.subscriber(`idle.${i}`);
    },
  };
  return driver;
}
