import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256Hex } from '../sha256.ts';

/** File names under the data dir's keys/ directory. */
export const PRIVATE_KEY_FILE = 'audit-ed25519.key';
export const PUBLIC_KEY_FILE = 'audit-ed25519.pub';

export interface AuditKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM of the public key (what keys/audit-ed25519.pub holds). */
  publicKeyPem: string;
  /** Hex SHA-256 of the raw 32-byte Ed25519 public key. */
  fingerprint: string;
  /** Short id carried by every checkpoint: the first 16 hex digits of the fingerprint. */
  keyId: string;
  /** True when this call generated the key pair. */
  created: boolean;
}

export interface AuditPublicKey {
  publicKey: KeyObject;
  publicKeyPem: string;
  fingerprint: string;
  keyId: string;
}

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyError';
  }
}

/** Create `dir` (and parents) with mode 0700, and tighten the mode of an existing `dir` to 0700. */
export function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fsyncDir(dirname(dir));
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new AuditKeyError(`${dir} is not a directory`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** fsync a directory so that a file created or renamed in it survives a crash. Best effort on platforms without it. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot open or fsync directories; the data itself is fsync'd separately.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Describe a public key: PEM, fingerprint and key id. */
export function describePublicKey(key: KeyObject | string): AuditPublicKey {
  const publicKey = typeof key === 'string' ? createPublicKey(key) : key;
  if (publicKey.type !== 'public' || publicKey.asymmetricKeyType !== 'ed25519') {
    throw new AuditKeyError('audit key must be an Ed25519 public key');
  }
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // An Ed25519 SPKI is a fixed 12-byte header followed by the 32-byte raw key.
  const raw = spki.subarray(spki.length - 32);
  const fingerprint = sha256Hex(raw);
  return { publicKey, publicKeyPem, fingerprint, keyId: fingerprint.slice(0, 16) };
}

/**
 * Load the audit signing key pair from `keysDir`, generating it on first use.
 *
 * The private key is written to a temporary file (mode 0600), fsync'd, then hard-linked into place,
 * which fails if another process created the key first; in that case the existing key wins.
 * The public key file is derived from the private key; if one exists and does not match, this throws
 * rather than silently signing with a key verifiers do not pin.
 */
export function loadOrCreateKeyPair(keysDir: string): AuditKeyPair {
  ensurePrivateDir(keysDir);
  const privPath = join(keysDir, PRIVATE_KEY_FILE);
  const pubPath = join(keysDir, PUBLIC_KEY_FILE);
  let created = false;
  if (!existsSync(privPath)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const tmp = join(keysDir, `.${PRIVATE_KEY_FILE}.${process.pid}.${Date.now()}.tmp`);
    writeFileDurable(tmp, pem, 0o600, 'wx');
    try {
      linkSync(tmp, privPath);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
    fsyncDir(keysDir);
  }
  const st = statSync(privPath);
  if ((st.mode & 0o077) !== 0) chmodSync(privPath, 0o600);
  const privateKey = createPrivateKey(readFileSync(privPath));
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AuditKeyError(`${privPath} is not an Ed25519 private key`);
  }
  const pub = describePublicKey(createPublicKey(privateKey));
  if (existsSync(pubPath)) {
    const onDisk = describePublicKey(readFileSync(pubPath, 'utf8'));
    if (onDisk.fingerprint !== pub.fingerprint) {
      throw new AuditKeyError(`${pubPath} does not match ${privPath}; refusing to sign with an unpinned key`);
    }
  } else {
    const tmp = join(keysDir, `.${PUBLIC_KEY_FILE}.${process.pid}.${Date.now()}.tmp`);
    writeFileDurable(tmp, pub.publicKeyPem, 0o644, 'wx');
    try {
      linkSync(tmp, pubPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
    fsyncDir(keysDir);
  }
  return { privateKey, ...pub, created };
}

/** Read the pinned public key from `keysDir`, or null when there is none. */
export function loadPublicKey(keysDir: string): AuditPublicKey | null {
  const pubPath = join(keysDir, PUBLIC_KEY_FILE);
  if (!existsSync(pubPath)) return null;
  return describePublicKey(readFileSync(pubPath, 'utf8'));
}

export function signText(privateKey: KeyObject, text: string): string {
  return sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64');
}

export function verifyText(publicKey: KeyObject, text: string, signatureB64: string): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(text, 'utf8'), publicKey, sig);
  } catch {
    return false;
  }
}

function writeFileDurable(path: string, data: string, mode: number, flag: string): void {
  const fd = openSync(path, flag, mode);
  try {
    const buf = Buffer.from(data, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
