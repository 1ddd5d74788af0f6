/**
 * A message as the web door writes it when it is not a plain `msg` line
 * (WEB.md): a server-sent event whose id is the journal id, or a JSON
 * object per line.
 */
import type { Message } from '../protocol/events.js';

export function formatMessage(format: 'sse' | 'json', { id, ts, topic, sender, body }: Message): string {
  // A CR ends an SSE line: it travels escaped.
  if (format === 'sse') return `id: ${id}\nevent: msg\ndata: ${topic} ${sender} ${body.replace(/\r/g, '\\r')}\n\n`;
  return `${JSON.stringify({ id, ts, topic, sender, body })}\n`;
}

/**
 * A stream's word that retention deleted some of what it asked for (the
 * `journal starts at <id>` of `ok recv`): the loss is never silent. Plain
 * streams get the reply line itself.
 */
export function formatGone(format: 'sse' | 'json', first: number): string {
  if (format === 'sse') return `event: gone\ndata: journal starts at ${first}\n\n`;
  return `${JSON.stringify({ journal_starts_at: first })}\n`;
}
