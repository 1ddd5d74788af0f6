/**
 * Reads a password: one line from stdin when it is a pipe or file, or from a
 * no-echo prompt (asked twice) when it is a terminal.
 */
import { FatalError } from './errors.js';

async function readFirstLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(0x0a)) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return (text.split('\n')[0] as string).replace(/\r$/, '');
}

function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (text: string): void => {
      for (const char of text) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004') return done(new FatalError('cancelled'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on('data', onData);
  });
}

export async function readPassword(question: string): Promise<string> {
  if (!process.stdin.isTTY) return readFirstLine();
  const first = await promptHidden(question);
  const again = await promptHidden('again: ');
  if (first !== again) throw new FatalError('the two passwords differ; nothing changed');
  return first;
}
