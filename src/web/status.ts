/**
 * The HTTP status of each refusal (WEB.md): a table over the error codes
 * of protocol/errors.ts, so a new code does not compile until it has one.
 */
import type { ErrorCode } from '../protocol/errors.js';

export const HTTP_STATUS: { readonly [code in ErrorCode]: number } = {
  syntax: 400,
  toolong: 413,
  encoding: 400,
  auth: 401,
  denied: 403,
  notfound: 404,
  busy: 503,
  slow: 503,
  shutdown: 503,
  timeout: 504,
  internal: 500,
};
