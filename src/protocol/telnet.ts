/**
 * Removes telnet commands from a byte stream (PROTOCOL.md, "Lines"): IAC
 * (0xFF) followed by 0xF0..0xFE is a command, WILL/WONT/DO/DONT take one
 * more option byte, SB runs up to IAC SE, and IAC IAC stands for one 0xFF.
 * An IAC followed by any other byte is not a command: both bytes stay data
 * (and the line will then be refused as not UTF-8).
 *
 * One command is answered: telnet's Ctrl-C sends IAC IP (ignored here)
 * and IAC DO TIMING-MARK, then discards everything it receives until the
 * server answers IAC WILL TIMING-MARK (RFC 860). `marks` tells where in the
 * filtered data each DO TIMING-MARK was, so the answer can follow the
 * replies to the lines before it.
 *
 * Stateful across chunks, because a command can be split between reads.
 */

const IAC = 0xff;
const SE = 0xf0;
const SB = 0xfa;
const WILL = 0xfb;
const DO = 0xfd;
const DONT = 0xfe;
const COMMAND_FIRST = 0xf0;
const TIMING_MARK = 0x06;

/** IAC WILL TIMING-MARK: the answer to IAC DO TIMING-MARK. */
export const WILL_TIMING_MARK = Buffer.from([IAC, WILL, TIMING_MARK]);

const enum State {
  Data,
  Iac,
  Option,
  Sub,
  SubIac,
}

export class TelnetFilter {
  #state = State.Data;
  /** The WILL, WONT, DO or DONT whose option byte comes next. */
  #verb = 0;
  /** Offsets in the last filter() result where a DO TIMING-MARK was. */
  readonly marks: number[] = [];

  /** Returns the data bytes of `chunk`; may return `chunk` itself. */
  filter(chunk: Buffer): Buffer {
    this.marks.length = 0;
    // Fast path: plain text, nothing pending.
    if (this.#state === State.Data && !chunk.includes(IAC)) return chunk;
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    for (const byte of chunk) {
      switch (this.#state) {
        case State.Data:
          if (byte === IAC) this.#state = State.Iac;
          else out[n++] = byte;
          break;
        case State.Iac:
          if (byte === IAC) {
            out[n++] = IAC;
            this.#state = State.Data;
          } else if (byte >= WILL && byte <= DONT) {
            this.#verb = byte;
            this.#state = State.Option;
          } else if (byte === SB) {
            this.#state = State.Sub;
          } else if (byte >= COMMAND_FIRST) {
            this.#state = State.Data;
          } else {
            out[n++] = IAC;
            out[n++] = byte;
            this.#state = State.Data;
          }
          break;
        case State.Option:
          if (this.#verb === DO && byte === TIMING_MARK) this.marks.push(n);
          this.#state = State.Data;
          break;
        case State.Sub:
          if (byte === IAC) this.#state = State.SubIac;
          break;
        case State.SubIac:
          this.#state = byte === SE ? State.Data : State.Sub;
          break;
      }
    }
    return out.subarray(0, n);
  }

  /**
   * At end of input, an IAC with nothing after it is not a command: give it
   * back as data. Anything else pending is an unfinished command and is
   * dropped.
   */
  end(): Buffer {
    const pending = this.#state === State.Iac ? Buffer.from([IAC]) : Buffer.alloc(0);
    this.#state = State.Data;
    return pending;
  }
}
