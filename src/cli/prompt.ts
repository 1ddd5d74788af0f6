/**
 * Reads a password: for a new one, one line from stdin when it is a pipe or
 * file, or from a no-echo prompt, asked twice, when it is a terminal; for a
 * login, a no-echo prompt asked once.
 */
import { FatalError } from '../protocol/errors.js';

async function readFirstLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if ((chunk as Buffer).includes(0x0a)) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return (text.split('\n')[0] as string).replace(/\r$/, '');
}

/**
 * Asks each question in turn on stderr and reads one line for each from
 * the terminal in raw mode, so nothing typed is echoed. Keys typed ahead of
 * a question count for it.
 */
function askHidden(questions: readonly string[]): Promise<string[]> {
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  process.stderr.write(questions[0] as string);
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    let typed = '';
    const finish = (error?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      if (error) reject(error);
      else resolve(answers);
    };
    const onData = (text: string): void => {
      for (const char of text) {
        if (char === '\u0003' || char === '\u0004') {
          process.stderr.write('\n');
          return finish(new FatalError('cancelled'));
        }
        if (char === '\r' || char === '\n') {
          answers.push(typed);
          typed = '';
          process.stderr.write('\n');
          if (answers.length === questions.length) return finish();
          process.stderr.write(questions[answers.length] as string);
        } else if (char === '\u007f' || char === '\b') {
          typed = typed.slice(0, -1);
        } else {
          typed += char;
        }
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

export async function readPassword(question: string): Promise<string> {
  if (!process.stdin.isTTY) return readFirstLine();
  const [first, again] = await askHidden([question, 'again: ']);
  if (first !== again) throw new FatalError('the two passwords differ; nothing changed');
  return first as string;
}

/** A login's password, typed at the terminal (stdin must be one) without echo. */
export async function askPassword(question: string): Promise<string> {
  const [answer] = await askHidden([question]);
  return answer as string;
}
