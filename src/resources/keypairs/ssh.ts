/**
 * SSH keys as keypairs hold them (api-reference.md §5.6): OpenSSH public key lines, their MD5
 * fingerprint, private keys in PEM (PKCS#1, SEC1, PKCS#8) or OpenSSH format, and key generation
 * (RSA, Ed25519). Pure functions over `node:crypto`; errors are `SshKeyError`s the service turns
 * into 400s naming its field.
 */
import {
  createHash,
  createPrivateKey,
  generateKeyPair,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { promisify } from 'node:util';

export class SshKeyError extends Error {}

/** The most bits an RSA key may have (documented limit). */
export const RSA_MAX_BITS = 4096;
/** The size of a generated RSA key (the size of the recorded generated pair). */
export const RSA_GENERATED_BITS = 2048;
/** Private keys are PEM text of a few KiB; anything far larger is not one. */
export const PRIVATE_KEY_MAX = 16 * 1024;
export const PUBLIC_KEY_MAX = 16 * 1024;

export const ALGORITHMS = ['rsa', 'ed25519'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const ECDSA_CURVES: Record<string, string> = {
  'ecdsa-sha2-nistp256': 'nistp256',
  'ecdsa-sha2-nistp384': 'nistp384',
  'ecdsa-sha2-nistp521': 'nistp521',
};
const JWK_CURVES: Record<string, string> = {
  'P-256': 'ecdsa-sha2-nistp256',
  'P-384': 'ecdsa-sha2-nistp384',
  'P-521': 'ecdsa-sha2-nistp521',
};

export interface PublicKey {
  /** `ssh-rsa`, `ssh-ed25519`, `ecdsa-sha2-nistp256`... */
  type: string;
  /** The wire-format key blob (what the base64 of the line encodes). */
  blob: Buffer;
  /** RSA modulus size; undefined for other types. */
  bits?: number;
}

// ---------------------------------------------------------------------------------------------
// The SSH wire format: uint32 lengths before strings and mpints

class Reader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}

  uint32(): number {
    if (this.offset + 4 > this.data.length) throw new SshKeyError('truncated key data');
    const n = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return n;
  }

  bytes(): Buffer {
    const n = this.uint32();
    if (this.offset + n > this.data.length) throw new SshKeyError('truncated key data');
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  text(): string {
    return this.bytes().toString('latin1');
  }

  get done(): boolean {
    return this.offset === this.data.length;
  }
}

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A non-negative mpint: big-endian, no leading zeros, a zero byte first if the top bit is set. */
function sshMpint(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  let bytes = unsigned.subarray(start);
  if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0)
    bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return sshString(bytes);
}

function bitLength(mpint: Buffer): number {
  let start = 0;
  while (start < mpint.length && mpint[start] === 0) start++;
  if (start === mpint.length) return 0;
  return (mpint.length - start - 1) * 8 + (32 - Math.clz32(mpint[start]!));
}

// ---------------------------------------------------------------------------------------------
// Public keys

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Reads an OpenSSH public key line (`type base64 [comment]`). Throws `SshKeyError`. */
export function parsePublicKey(line: string): PublicKey {
  const parts = line.trim().split(/\s+/);
  const [type, encoded] = parts;
  if (!type || !encoded) {
    throw new SshKeyError('Expected an OpenSSH public key: "<type> <base64 key> [comment]"');
  }
  if (!BASE64.test(encoded) || encoded.length % 4 !== 0) {
    throw new SshKeyError('The key part of the public key is not base64');
  }
  const blob = Buffer.from(encoded, 'base64');
  const key = readPublicBlob(blob);
  if (key.type !== type) {
    throw new SshKeyError(`The key is of type "${key.type}" but the line says "${type}"`);
  }
  return key;
}

/** Checks a wire-format public key blob and tells its type (and RSA size). */
export function readPublicBlob(blob: Buffer): PublicKey {
  const reader = new Reader(blob);
  const type = reader.text();
  let bits: number | undefined;
  if (type === 'ssh-rsa') {
    reader.bytes(); // e
    bits = bitLength(reader.bytes());
    if (bits > RSA_MAX_BITS) {
      throw new SshKeyError(`RSA keys may have at most ${RSA_MAX_BITS} bits; this one has ${bits}`);
    }
  } else if (type === 'ssh-ed25519') {
    if (reader.bytes().length !== 32) throw new SshKeyError('An Ed25519 key has 32 bytes');
  } else if (type in ECDSA_CURVES) {
    if (reader.text() !== ECDSA_CURVES[type]) {
      throw new SshKeyError(`The curve of the ${type} key does not match its type`);
    }
    reader.bytes(); // the point
  } else {
    throw new SshKeyError(
      `Unsupported key type "${type}". Supported: ssh-rsa, ssh-ed25519, ${Object.keys(ECDSA_CURVES).join(', ')}`,
    );
  }
  if (!reader.done) throw new SshKeyError('Unexpected data after the key');
  return bits === undefined ? { type, blob } : { type, blob, bits };
}

/** `aa:bb:...`: the MD5 of the key blob in hex pairs, as `ssh-keygen -E md5 -l` shows it. */
export function fingerprint(blob: Buffer): string {
  return createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
}

/** The public key line of a blob (no comment). */
export function publicKeyLine(blob: Buffer): string {
  return `${readPublicBlob(blob).type} ${blob.toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// Private keys

export type PrivateKeyInfo =
  /** A key we could read: its public half. */
  | { readable: true; publicBlob: Buffer }
  /** A passphrase-protected key: its public half is unknown unless the format carries it. */
  | { readable: false; publicBlob: Buffer | undefined };

const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const OPENSSH_END = '-----END OPENSSH PRIVATE KEY-----';
const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const PEM = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]+\r?\n-----END \1-----\s*$/;

/** Reads a private key (PEM or OpenSSH format) far enough to know its public half. */
export function readPrivateKey(text: string): PrivateKeyInfo {
  const trimmed = text.trim();
  if (trimmed.startsWith(OPENSSH_BEGIN)) return readOpenSshPrivateKey(trimmed);
  const pem = PEM.exec(trimmed);
  if (!pem) throw new SshKeyError('Expected a private key in PEM or OpenSSH format');
  if (pem[1] === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(trimmed)) {
    return { readable: false, publicBlob: undefined };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: trimmed, format: 'pem' });
  } catch {
    throw new SshKeyError('The private key cannot be read');
  }
  return { readable: true, publicBlob: publicBlobOf(key) };
}

function readOpenSshPrivateKey(text: string): PrivateKeyInfo {
  if (!text.endsWith(OPENSSH_END)) throw new SshKeyError('The OpenSSH private key is truncated');
  const body = text.slice(OPENSSH_BEGIN.length, -OPENSSH_END.length).replace(/\s+/g, '');
  if (!BASE64.test(body)) throw new SshKeyError('The OpenSSH private key is not base64');
  const data = Buffer.from(body, 'base64');
  if (!data.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) {
    throw new SshKeyError('Not an OpenSSH private key (openssh-key-v1)');
  }
  const reader = new Reader(data.subarray(OPENSSH_MAGIC.length));
  const cipher = reader.text();
  reader.text(); // kdf name
  reader.bytes(); // kdf options
  const count = reader.uint32();
  if (count !== 1) throw new SshKeyError('An OpenSSH private key file must hold exactly one key');
  const publicBlob = Buffer.from(reader.bytes());
  readPublicBlob(publicBlob);
  reader.bytes(); // the private section (encrypted unless the cipher is "none")
  return cipher === 'none' ? { readable: true, publicBlob } : { readable: false, publicBlob };
}

/** The OpenSSH wire-format public blob of a key `node:crypto` holds. */
function publicBlobOf(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const b64 = (value: string | undefined) => Buffer.from(value ?? '', 'base64url');
  if (jwk.kty === 'RSA') {
    return Buffer.concat([sshString('ssh-rsa'), sshMpint(b64(jwk.e)), sshMpint(b64(jwk.n))]);
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return Buffer.concat([sshString('ssh-ed25519'), sshString(b64(jwk.x))]);
  }
  const type = jwk.kty === 'EC' ? JWK_CURVES[jwk.crv ?? ''] : undefined;
  if (type) {
    const point = Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
    return Buffer.concat([sshString(type), sshString(ECDSA_CURVES[type]!), sshString(point)]);
  }
  throw new SshKeyError(`Unsupported private key type "${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ''}"`);
}

// ---------------------------------------------------------------------------------------------
// Generation

export interface GeneratedPair {
  publicKey: string;
  privateKey: string;
}

const generate = promisify(generateKeyPair);

/**
 * A new key pair from `node:crypto`'s randomness (never the seeded one: these are secrets). RSA
 * private keys come as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`, as the recorded generated pair),
 * Ed25519 ones in OpenSSH format, which every OpenSSH reads.
 */
export async function generatePair(algorithm: Algorithm): Promise<GeneratedPair> {
  if (algorithm === 'rsa') {
    const { publicKey, privateKey } = await generate('rsa', {
      modulusLength: RSA_GENERATED_BITS,
      publicExponent: 0x10001,
    });
    return {
      publicKey: publicKeyLine(publicBlobOf(publicKey)),
      privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
  }
  const { publicKey, privateKey } = await generate('ed25519');
  const blob = publicBlobOf(publicKey);
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
  return { publicKey: publicKeyLine(blob), privateKey: openSshEd25519(blob, seed) };
}

/** An unencrypted `openssh-key-v1` file holding one Ed25519 key (PROTOCOL.key in OpenSSH). */
function openSshEd25519(publicBlob: Buffer, seed: Buffer): string {
  const raw = new Reader(publicBlob);
  raw.text();
  const pub = raw.bytes();
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(''),
  ]);
  const padding = [];
  for (let i = 1; (secret.length + padding.length) % 8 !== 0; i++) padding.push(i);
  secret = Buffer.concat([secret, Buffer.from(padding)]);
  const data = Buffer.concat([
    OPENSSH_MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    Buffer.from([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(secret),
  ]);
  const lines = data.toString('base64').match(/.{1,70}/g) ?? [];
  return `${OPENSSH_BEGIN}\n${lines.join('\n')}\n${OPENSSH_END}\n`;
}
