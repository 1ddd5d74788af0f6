/** Showing messages to a person at a terminal. */

/** Control characters but TAB: C0, DEL and C1. */
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

/**
 * Makes control characters visible (`\x1b`, `\r`): a message body may hold
 * any of them, and printed raw they could move the cursor, recolour the
 * terminal or forge a whole line.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => (c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Whether `stream` is a terminal that wants colour (NO_COLOR unset). */
export function useColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && env.NO_COLOR === undefined;
}
