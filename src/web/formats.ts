/**
 * A message as the web door writes it (WEB.md): a plain `msg` line (the
 * line protocol's, from wire.ts), a server-sent event whose id is the
 * journal id, or a JSON object per line.
 */
import type { Message } from '../protocol/events.js';
import { msgText } from '../protocol/wire.js';
import type { Format } from '../transport/http.js';

export function formatMessage(format: Format, { id, ts, topic, sender, body }: Message): string {
  // A CR ends an SSE line: it travels escaped.
  if (format === 'sse') return `id: ${id}\nevent: msg\ndata: ${topic} ${sender} ${body.replace(/\r/g, '\\r')}\n\n`;
  if (format === 'json') return `${JSON.stringify({ id, ts, topic, sender, body })}\n`;
  return msgText(topic, id, sender, body);
}
