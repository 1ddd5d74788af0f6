/** Splits a byte stream into lines (LF, an optional CR before it dropped), UTF-8 decoded whole. */
export class LineReader {
  readonly #onLine: (line: string) => void;
  #partial: Buffer = Buffer.alloc(0);

  constructor(onLine: (line: string) => void) {
    this.#onLine = onLine;
  }

  push(chunk: Buffer): void {
    let data = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    for (let lf = data.indexOf(0x0a); lf !== -1; lf = data.indexOf(0x0a)) {
      const end = lf > 0 && data[lf - 1] === 0x0d ? lf - 1 : lf;
      this.#onLine(data.toString('utf8', 0, end));
      data = data.subarray(lf + 1);
    }
    this.#partial = Buffer.from(data);
  }
}
