import { type BinaryLike, createHash, hash } from 'node:crypto';

/**
 * Hex SHA-256 of a string (as UTF-8) or bytes. Node's one-shot `crypto.hash` (20.12+) skips the Hash object
 * and is about a third cheaper per call, which counts on the ingest path (several digests per event); older
 * Node 20 releases get the same result through createHash.
 */
export const sha256Hex: (data: BinaryLike) => string =
  typeof hash === 'function'
    ? (data) => hash('sha256', data, 'hex')
    : (data) => createHash('sha256').update(data).digest('hex');
