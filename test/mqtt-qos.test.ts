import t from 'tap';
import type { Test } from 'tap';
import { OutboundWindow } from '../src/mqtt/inflight.js';
import type { AckOutcome, InflightEntry, OutboundSend } from '../src/mqtt/inflight.js';
import { LINE_QOS, ReceivedQos2, deliveryQos } from '../src/mqtt/qos.js';
import type { Qos } from '../src/mqtt/qos.js';

interface Message {
  readonly id: number;
}

/** A send as a short string: `P<id>q<qos>#<packet id>` (with `d` for DUP) or `R#<packet id>` for PUBREL. */
function brief(send: OutboundSend<Message>): string {
  if (send.kind === 'pubrel') return `R#${send.packetId}`;
  return `P${send.message.id}q${send.qos}${send.packetId === undefined ? '' : `#${send.packetId}`}${send.dup ? 'd' : ''}`;
}

function outcome(result: AckOutcome<Message>): string {
  switch (result.outcome) {
    case 'done':
      return ['done', result.message.id, ...result.sends.map(brief)].join(' ');
    case 'released':
      return ['released', ...result.sends.map(brief)].join(' ');
    case 'wrong-flow':
      return `wrong-flow: ${result.detail}`;
    default:
      return result.outcome;
  }
}

type Step =
  | ['offer', number, Qos, string]
  | ['puback' | 'pubrec' | 'pubcomp', number, string]
  | ['resend', string]
  | ['disconnected'];

/** Runs `steps` on a window; each step names what it must send or answer. */
function play(t: Test, limit: number, steps: Step[], window = new OutboundWindow<Message>(limit)): OutboundWindow<Message> {
  for (const [i, step] of steps.entries()) {
    let got: string;
    let want: string;
    if (step[0] === 'offer') {
      got = window.offer({ id: step[1] }, step[2]).map(brief).join(' ');
      want = step[3];
    } else if (step[0] === 'resend') {
      got = window.resend().map(brief).join(' ');
      want = step[1];
    } else if (step[0] === 'disconnected') {
      window.disconnected();
      continue;
    } else {
      got = outcome(window[step[0]](step[1]));
      want = step[2];
    }
    t.equal(got, want, `step ${i + 1}: ${step.slice(0, step[0] === 'offer' ? 3 : 2).join(' ')}`);
  }
  return window;
}

t.test('QoS 1: a window of 2, in id order, QoS 0 waiting its turn', async (t) => {
  const window = play(t, 2, [
    ['offer', 10, 1, 'P10q1#1'],
    ['offer', 11, 1, 'P11q1#2'],
    ['offer', 12, 1, ''],
    ['offer', 13, 0, ''],
    ['offer', 14, 1, ''],
    ['puback', 2, 'done 11 P12q1#3 P13q0'],
    ['puback', 2, 'unknown'],
    ['puback', 9, 'unknown'],
    ['puback', 1, 'done 10 P14q1#4'],
    ['offer', 15, 0, 'P15q0'],
    ['offer', 16, 1, ''],
  ]);
  t.equal(window.inflightCount, 2);
  t.equal(window.waiting, 1);
  t.equal(window.sentThrough, 15, 'the last message that left');
  t.same(window.inflight.map((entry) => [entry.packetId, entry.message.id, entry.qos, entry.state]), [[3, 12, 1, 'publish'], [4, 14, 1, 'publish']]);
});

t.test('QoS 2: PUBREC, PUBREL, PUBCOMP, and flows that do not fit', async (t) => {
  play(t, 10, [
    ['offer', 1, 2, 'P1q2#1'],
    ['offer', 2, 1, 'P2q1#2'],
    ['puback', 1, 'wrong-flow: PUBACK for QoS 2 packet 1'],
    ['pubcomp', 1, 'wrong-flow: PUBCOMP before PUBREC for packet 1'],
    ['pubrec', 2, 'wrong-flow: PUBREC for QoS 1 packet 2'],
    ['pubcomp', 2, 'wrong-flow: PUBCOMP before PUBREC for packet 2'],
    ['pubrec', 1, 'released R#1'],
    ['pubrec', 1, 'released R#1'],
    ['puback', 1, 'wrong-flow: PUBACK for QoS 2 packet 1'],
    ['pubcomp', 1, 'done 1'],
    ['pubcomp', 1, 'unknown'],
    ['pubrec', 7, 'unknown'],
    ['puback', 2, 'done 2'],
  ]);
});

t.test('a window of 1 holds QoS 2 until PUBCOMP, not PUBREC; QoS 0 needs no room, only its turn', async (t) => {
  play(t, 1, [
    ['offer', 1, 2, 'P1q2#1'],
    ['offer', 2, 2, ''],
    ['pubrec', 1, 'released R#1'],
    ['offer', 3, 0, ''],
    ['pubcomp', 1, 'done 1 P2q2#2 P3q0'],
    ['pubrec', 2, 'released R#2'],
    ['pubcomp', 2, 'done 2'],
  ]);
});

t.test('a resumed session: in flight again with DUP, PUBREL where PUBREC came, then what room lets out', async (t) => {
  const window = play(t, 3, [
    ['offer', 1, 1, 'P1q1#1'],
    ['offer', 2, 2, 'P2q2#2'],
    ['offer', 3, 2, 'P3q2#3'],
    ['offer', 4, 1, ''],
    ['pubrec', 2, 'released R#2'],
    ['disconnected'],
    ['resend', 'P1q1#1d R#2 P3q2#3d'],
    ['puback', 1, 'done 1'],
    ['resend', 'R#2 P3q2#3d'],
  ]);
  t.equal(window.waiting, 0, 'what waited is read from the journal again');
  t.equal(window.sentThrough, 3);

  // The same session restored from what was persisted, after a restart.
  const persisted: InflightEntry<Message>[] = window.inflight.map((entry) => ({ ...entry }));
  const restored = new OutboundWindow<Message>(3, { inflight: persisted, sentThrough: window.sentThrough });
  t.equal(restored.sentThrough, 3);
  play(t, 3, [
    ['resend', 'R#2 P3q2#3d'],
    ['offer', 4, 1, 'P4q1#4'],
    ['pubcomp', 2, 'done 2'],
    ['pubrec', 3, 'released R#3'],
    ['pubcomp', 3, 'done 3'],
    ['puback', 4, 'done 4'],
  ], restored);
  t.equal(restored.inflightCount, 0);
});

t.test('jobs of shared subscriptions go back to their group, not out again; older messages leave the position alone', async (t) => {
  const jobs = new Set([2, 4]);
  const window = play(t, 10, [
    ['offer', 1, 1, 'P1q1#1'],
    ['offer', 2, 1, 'P2q1#2'],
    ['offer', 3, 2, 'P3q2#3'],
    ['offer', 4, 2, 'P4q2#4'],
    ['pubrec', 4, 'released R#4'],
  ]);
  window.disconnected((message) => jobs.has(message.id));
  play(t, 10, [['resend', 'P1q1#1d P3q2#3d'], ['offer', 0, 1, 'P0q1#5']], window);
  t.equal(window.sentThrough, 4, 'a retained message with an older id did not move the position back');
});

t.test('a limit lowered since the session was persisted', async (t) => {
  const inflight: InflightEntry<Message>[] = [1, 2, 3].map((id) => ({ packetId: id, qos: 1, state: 'publish', message: { id } }));
  play(t, 1, [
    ['offer', 4, 1, ''],
    ['resend', 'P1q1#1d P2q1#2d P3q1#3d'],
    ['puback', 1, 'done 1'],
    ['puback', 3, 'done 3'],
    ['puback', 2, 'done 2 P4q1#4'],
  ], new OutboundWindow<Message>(1, { inflight, sentThrough: 3 }));
});

t.test('packet identifiers wrap at 65535 and skip those in flight', async (t) => {
  const window = new OutboundWindow<Message>(2);
  t.same(window.offer({ id: 1 }, 1).map(brief), ['P1q1#1'], 'id 1 stays in flight throughout');
  let last = '';
  for (let id = 2; id <= 65536; id++) {
    const sends = window.offer({ id }, 1);
    last = sends.map(brief).join(' ');
    const packetId = sends[0]?.kind === 'publish' ? sends[0].packetId : undefined;
    if (packetId === undefined || window.puback(packetId).outcome !== 'done') {
      t.fail(`message ${id}: ${last}`);
      break;
    }
  }
  t.equal(last, 'P65536q1#2', 'after 65535 comes 1, in flight, so 2');
  t.same(window.offer({ id: 65537 }, 1).map(brief), ['P65537q1#3']);
  const wrapped = new OutboundWindow<Message>(5, { inflight: [{ packetId: 65535, qos: 2, state: 'pubrel', message: { id: 9 } }], sentThrough: 9 });
  t.same(wrapped.offer({ id: 10 }, 1).map(brief), ['P10q1#1'], 'a restored window goes on after its last identifier');
});

t.test('the in-flight limit is 1 to 65535', async (t) => {
  for (const limit of [0, -1, 65536, 1.5, Number.NaN]) t.throws(() => new OutboundWindow<Message>(limit), RangeError, String(limit));
  t.doesNotThrow(() => new OutboundWindow<Message>(65535));
});

t.test('received QoS 2: journaled once, released by PUBREL', async (t) => {
  const received = new ReceivedQos2(2);
  const steps: [string, number, string][] = [
    ['publish', 7, 'new'],
    ['publish', 7, 'repeat'],
    ['publish', 8, 'new'],
    ['publish', 9, 'full'],
    ['publish', 8, 'repeat'],
    ['release', 7, 'released'],
    ['release', 7, 'unknown'],
    ['release', 100, 'unknown'],
    ['publish', 9, 'new'],
    ['publish', 7, 'full'],
  ];
  for (const [verb, id, want] of steps) {
    const got = verb === 'publish' ? received.publish(id) : received.release(id);
    t.equal(got, want, `${verb} ${id}`);
  }
  t.same(received.ids(), [8, 9], 'what to persist');
  const restored = new ReceivedQos2(100, [300, 5, 40000]);
  t.equal(restored.publish(40000), 'repeat', 'a persisted identifier survives a restart');
  t.equal(restored.release(5), 'released');
  t.same(restored.ids(), [300, 40000]);
  t.equal(restored.size, 2);
});

t.test('delivery QoS: the lesser of publish and granted', async (t) => {
  const table: [Qos, Qos | undefined, Qos | undefined][] = [
    [0, 0, 0], [0, 1, 0], [0, 2, 0],
    [1, 0, 0], [1, 1, 1], [1, 2, 1],
    [2, 0, 0], [2, 1, 1], [2, 2, 2],
    [2, undefined, undefined], [0, undefined, undefined],
    [LINE_QOS, 2, 1], [LINE_QOS, 0, 0],
  ];
  for (const [published, granted, want] of table) t.equal(deliveryQos(published, granted), want, `published ${published}, granted ${granted}`);
});
