/**
 * A byte stream over WebSocket binary frames, for a door that is not lines
 * (MQTT over `/mqtt`, MQTT.md "Listeners"): the client's frames are one
 * stream of bytes whatever their boundaries, and each write to it is one
 * binary frame. A text frame is not part of such a stream [MQTT-6.0.0-1]:
 * the connection is closed.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { LinkEvents } from './link.js';
import { WebSocketLink } from './ws.js';

/** WebSocket close code 1003: a data type the endpoint cannot accept. */
const UNSUPPORTED_DATA = 1003;

export class BinaryWsLink extends WebSocketLink {
  readonly listener: string;

  constructor(ws: WebSocket, req: IncomingMessage, listener: string) {
    super(ws, req);
    this.listener = listener;
  }

  open(events: LinkEvents): void {
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) events.data(data);
      else this.ws.close(UNSUPPORTED_DATA, 'binary frames only');
    });
    this.onClose(events);
  }

  write(data: string | Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const frame = typeof data === 'string' ? Buffer.from(data) : data;
    if (frame.length > 0) this.send(frame, frame.length);
  }
}
