/** Certificates for the TLS tests, made by openssl (installed by npm test's set-up when missing). */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tool } from './tools.js';

export interface Certs {
  ca: string;
  server: { cert: string; key: string };
  other: { cert: string; key: string };
  client: { cert: string; key: string };
  /** A server certificate for the name `bus.test` only, no IP address. */
  named: { cert: string; key: string };
}

/** A CA, two server certificates for `ip`, one for a name and a client certificate, all signed by the CA; throws at once without openssl. */
export function makeCerts(dir: string, ip = '127.0.0.1'): Certs {
  const openssl = tool('openssl');
  const ssl = (...args: string[]): void => void execFileSync(openssl, args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=linebus test CA');
  const signed = (name: string, extension: string): { cert: string; key: string } => {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), extension);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  return {
    ca: join(dir, 'ca.pem'),
    server: signed('server', `subjectAltName=IP:${ip}\n`),
    other: signed('other', `subjectAltName=IP:${ip}\n`),
    client: signed('client', 'extendedKeyUsage=clientAuth\n'),
    named: signed('named', 'subjectAltName=DNS:bus.test\n'),
  };
}
