import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway certificate authority made at test time with openssl (P-256
 * keys, valid for a day): a server certificate for 127.0.0.1/localhost and
 * client certificates whose common names are the callers' identities, plus
 * a foreign CA's client certificate that must never be accepted.
 */
export interface TestCertificates {
  dir: string;
  ca: string;
  server: { cert: string; key: string };
  /** A client certificate whose subject is `subject` (default `/CN=<name>`; `/CN=a/CN=b` has two common names). */
  client(name: string, subject?: string): { cert: string; key: string };
  /** A client certificate for `name` signed by another CA. */
  impostor(name: string): { cert: string; key: string };
  remove(): void;
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'alfabet-certs-'));
  const path = (name: string) => join(dir, name);
  const authority = (name: string) => {
    openssl([
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      path(`${name}.key`),
      '-out',
      path(`${name}.crt`),
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
    ]);
    return name;
  };
  const issue = (ca: string, name: string, extensions: string, subject = `/CN=${name}`) => {
    const base = `${ca}-${name}`;
    writeFileSync(path(`${base}.ext`), extensions);
    openssl(['req', ...EC_KEY, '-keyout', path(`${base}.key`), '-out', path(`${base}.csr`), '-subj', subject]);
    openssl([
      'x509',
      '-req',
      '-in',
      path(`${base}.csr`),
      '-CA',
      path(`${ca}.crt`),
      '-CAkey',
      path(`${ca}.key`),
      '-CAcreateserial',
      '-out',
      path(`${base}.crt`),
      '-days',
      '1',
      '-extfile',
      path(`${base}.ext`),
    ]);
    return { cert: path(`${base}.crt`), key: path(`${base}.key`) };
  };
  const ca = authority('alfabet-test-ca');
  const server = issue(ca, 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  let foreign: string | null = null;
  return {
    dir,
    ca: path(`${ca}.crt`),
    server,
    client: (name, subject) => issue(ca, name, 'extendedKeyUsage=clientAuth\n', subject),
    impostor: (name) => issue((foreign ??= authority('foreign-ca')), name, 'extendedKeyUsage=clientAuth\n'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
