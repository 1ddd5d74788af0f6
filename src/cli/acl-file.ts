/** Reads the access file (--acl): one line naming file and line when it is wrong. */
import { readFileSync } from 'node:fs';
import { Acl } from '../bus/acl.js';
import type { AclError } from '../bus/acl.js';
import { FatalError } from '../protocol/errors.js';

export function readAcl(path: string): Acl {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FatalError(`${path}: cannot read the access file: ${(error as Error).message}`);
  }
  try {
    return Acl.parse(text);
  } catch (error) {
    // Acl.parse throws nothing else.
    throw new FatalError(`${path}:${(error as AclError).line}: ${(error as AclError).message}`);
  }
}
