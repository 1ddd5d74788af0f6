/** Whether an address is the machine's own (open mode admits loopback clients only). */
import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback count as loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}
