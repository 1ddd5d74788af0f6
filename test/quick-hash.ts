/**
 * Password hashes for tests that need a user but are not about hashing:
 * scrypt at N = 16 instead of hashPassword's 16384, in the form it writes
 * (verifyPassword reads N, r and p from the hash). At 16384 a hash, and
 * each login checked against it, costs about 38 ms of CPU. Tests of the
 * hashing itself, or of logins that must take a real hash's time (turn's
 * input held behind a login, guard's parallel guesses), use hashPassword.
 */
import { randomBytes, scryptSync } from 'node:crypto';

const N = 16;
const R = 8;
const P = 1;

export function quickHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N, r: R, p: P });
  return ['scrypt', N, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}
