/**
 * `sigmalite tls init`: a local certificate authority and a server certificate for the given host
 * names (docs/tls.md). Clients that insist on `https://{loc}.cloudsigma.com` then work through a
 * hosts entry and trusting this CA.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TlsFiles {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export function tlsFiles(dir: string): TlsFiles {
  return {
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server-key.pem'),
  };
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * A random serial number of 16 bytes, positive and minimally encoded: the first byte has its top
 * bit clear and is not zero. (Once a leading zero nibble was put before random bytes: about one
 * certificate in a hundred had a DER integer with illegal padding, which OpenSSL refuses to read.)
 */
export function serial(): string {
  const bytes = forge.random.getBytesSync(16);
  const first = (bytes.charCodeAt(0) & 0x7f) | 0x40;
  return forge.util.bytesToHex(String.fromCharCode(first) + bytes.slice(1));
}

function newCa(): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * YEAR_MS);
  // A name of its own: verifiers find a certificate's issuer by name, and a second sigmalite CA
  // of the same name (another machine's, trusted too) would be tried in its place.
  const id = forge.util.bytesToHex(forge.random.getBytesSync(4));
  const subject = [
    { name: 'commonName', value: `sigmalite local CA ${id}` },
    { name: 'organizationName', value: 'sigmalite' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

/** The CA's subject key identifier (as bytes), which the certificates it signs point to. */
function caKeyId(ca: forge.pki.Certificate): string {
  const extension = ca.getExtension('subjectKeyIdentifier') as
    | { subjectKeyIdentifier?: string }
    | undefined;
  return extension?.subjectKeyIdentifier
    ? forge.util.hexToBytes(extension.subjectKeyIdentifier)
    : ca.generateSubjectKeyIdentifier().getBytes();
}

/**
 * Writes a server certificate for `hosts` (names and addresses), signed by the CA in `dir`
 * (created first if there is none). Returns the file paths.
 */
export function initTls(dir: string, hosts: readonly string[]): TlsFiles {
  if (hosts.length === 0) throw new Error('name at least one host name or address');
  mkdirSync(dir, { recursive: true });
  const files = tlsFiles(dir);
  let ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };
  if (existsSync(files.caCert) && existsSync(files.caKey)) {
    ca = {
      cert: forge.pki.certificateFromPem(readFileSync(files.caCert, 'utf8')),
      key: forge.pki.privateKeyFromPem(
        readFileSync(files.caKey, 'utf8'),
      ) as forge.pki.rsa.PrivateKey,
    };
  } else {
    ca = newCa();
    writeFileSync(files.caCert, forge.pki.certificateToPem(ca.cert));
    writeFileSync(files.caKey, forge.pki.privateKeyToPem(ca.key), { mode: 0o600 });
  }
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 2 * YEAR_MS);
  cert.setSubject([{ name: 'commonName', value: hosts[0]! }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caKeyId(ca.cert) },
    {
      name: 'subjectAltName',
      altNames: hosts.map((host) =>
        isIP(host) ? { type: 7, ip: host } : { type: 2, value: host },
      ),
    },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  writeFileSync(files.cert, forge.pki.certificateToPem(cert));
  writeFileSync(files.key, forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
  return files;
}
