/**
 * SSH key handling against the recorded keypairs (fingerprints, pairs) and, where the machine has
 * it, OpenSSH itself (`ssh-keygen` reads what we generate and agrees on fingerprints).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fingerprint,
  generatePair,
  parsePublicKey,
  readPrivateKey,
  SshKeyError,
} from '../../src/resources/keypairs/ssh.js';
import { loadFixture } from '../conformance/fixtures.js';

// biome-ignore lint/suspicious/noExplicitAny: fixture bodies are read freely.
const objectOf = (name: string, side: 'request' | 'response'): any => {
  const body = loadFixture(name)[side].body as { objects?: unknown[] };
  return body.objects ? body.objects[0] : body;
};

const SELF_GEN = objectOf('self_gen_keypair_create', 'response');
const PUB_ONLY = objectOf('pub_key_only_keypair_create', 'response');
const AUTOGEN = objectOf('autogen_keypair_create', 'response');
const LISTED = (loadFixture('keypair_list').response.body as { objects: unknown[] }).objects;

function hasSshKeygen(): boolean {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // `-?` exits 1 after printing usage: the binary is there.
    return (e as { status?: number }).status === 1;
  }
}

describe('public keys', () => {
  it('computes the recorded MD5 fingerprints', () => {
    for (const key of [SELF_GEN, PUB_ONLY, AUTOGEN, ...(LISTED as (typeof SELF_GEN)[])]) {
      expect(fingerprint(parsePublicKey(key.public_key).blob)).toBe(key.fingerprint);
    }
  });

  it('reads the RSA size and keeps a comment out of the blob', () => {
    const key = parsePublicKey(`${PUB_ONLY.public_key} user@host`);
    expect(key.type).toBe('ssh-rsa');
    expect(key.bits).toBe(1024);
    expect(parsePublicKey(AUTOGEN.public_key).bits).toBe(2048);
  });

  it('refuses what is not an OpenSSH public key', () => {
    const blob = PUB_ONLY.public_key.split(' ')[1];
    for (const bad of [
      '',
      'ssh-rsa',
      'ssh-rsa not*base64',
      `ssh-ed25519 ${blob}`,
      `ssh-rsa ${blob.slice(0, 40)}`,
      `ssh-dss ${Buffer.from('\0\0\0\x07ssh-dss').toString('base64')}`,
    ]) {
      expect(() => parsePublicKey(bad), bad).toThrow(SshKeyError);
    }
  });

  it('refuses RSA keys over 4096 bits', () => {
    // Only the size is read: a 4097-bit "modulus" of random bytes will do.
    const n = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(512, 0xa5)]);
    const string = (bytes: Buffer) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return Buffer.concat([length, bytes]);
    };
    const blob = (modulus: Buffer) =>
      Buffer.concat([
        string(Buffer.from('ssh-rsa')),
        string(Buffer.from([1, 0, 1])),
        string(modulus),
      ]);
    expect(() => parsePublicKey(`ssh-rsa ${blob(n).toString('base64')}`)).toThrow(/at most 4096/);
    const ok = Buffer.concat([Buffer.from([0]), Buffer.alloc(512, 0xa5)]);
    expect(parsePublicKey(`ssh-rsa ${blob(ok).toString('base64')}`).bits).toBe(4096);
  });
});

describe('private keys', () => {
  it('reads the recorded PKCS#1 keys and finds their public halves', () => {
    for (const key of [SELF_GEN, AUTOGEN]) {
      const info = readPrivateKey(key.private_key);
      expect(info.readable).toBe(true);
      expect(info.publicBlob?.equals(parsePublicKey(key.public_key).blob)).toBe(true);
    }
  });

  it('tells a mismatching pair apart', () => {
    const info = readPrivateKey(SELF_GEN.private_key);
    expect(info.publicBlob?.equals(parsePublicKey(AUTOGEN.public_key).blob)).toBe(false);
  });

  it('refuses garbage', () => {
    expect(() => readPrivateKey('hello')).toThrow(SshKeyError);
    expect(() =>
      readPrivateKey('-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n'),
    ).toThrow(SshKeyError);
  });

  it('knows an encrypted PEM key when it sees one', () => {
    const text =
      '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n';
    expect(readPrivateKey(text)).toEqual({ readable: false, publicBlob: undefined });
  });
});

describe('generation', () => {
  it('generates an RSA pair of 2048 bits in PKCS#1 PEM', async () => {
    const pair = await generatePair('rsa');
    expect(pair.privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(pair.privateKey.endsWith('-----END RSA PRIVATE KEY-----\n')).toBe(true);
    const key = parsePublicKey(pair.publicKey);
    expect(key.bits).toBe(2048);
    expect(readPrivateKey(pair.privateKey).publicBlob?.equals(key.blob)).toBe(true);
  });

  it('generates an Ed25519 pair in OpenSSH format', async () => {
    const pair = await generatePair('ed25519');
    expect(pair.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+$/);
    const info = readPrivateKey(pair.privateKey);
    expect(info.readable).toBe(true);
    expect(info.publicBlob?.equals(parsePublicKey(pair.publicKey).blob)).toBe(true);
  });

  it.skipIf(!hasSshKeygen())('writes keys OpenSSH reads, with the same fingerprint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigmalite-ssh-'));
    try {
      for (const algorithm of ['rsa', 'ed25519'] as const) {
        const pair = await generatePair(algorithm);
        const file = join(dir, algorithm);
        writeFileSync(file, pair.privateKey, { mode: 0o600 });
        const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' });
        expect(derived.trim()).toBe(pair.publicKey);
        writeFileSync(`${file}.pub`, `${pair.publicKey}\n`);
        const shown = execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${file}.pub`], {
          encoding: 'utf8',
        });
        expect(shown).toContain(`MD5:${fingerprint(parsePublicKey(pair.publicKey).blob)}`);
      }
      // And the other way round: a key ssh-keygen made, in its own format.
      const file = join(dir, 'made');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'c', '-f', file]);
      const { readFileSync } = await import('node:fs');
      const publicLine = readFileSync(`${file}.pub`, 'utf8');
      const info = readPrivateKey(readFileSync(file, 'utf8'));
      expect(info.publicBlob?.equals(parsePublicKey(publicLine).blob)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
