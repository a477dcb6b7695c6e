/**
 * Just enough of the POSIX ustar format, gzip-compressed, for backups: regular files and directories,
 * names up to 255 bytes, files up to 8 GiB. Both directions stream: a file is read or written in chunks
 * and hashed on the way, never held in memory.
 *
 * A member is a 512-byte header (name, mode, size, mtime, checksum, type) followed by its bytes padded to a
 * multiple of 512; the archive ends with two zero blocks.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, createWriteStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { sha256Hex } from '../sha256.ts';

const BLOCK = 512;
const MAX_SIZE = 8 * 1024 ** 3 - 1;

export interface TarMember {
  /** Path inside the archive, '/'-separated, relative. */
  name: string;
  size: number;
  /** Hex sha256 of the member's bytes. */
  sha256: string;
  mode: number;
}

export class TarError extends Error {
  /** The member being read when the problem was found, if any. */
  readonly member: string | undefined;
  constructor(message: string, member?: string) {
    super(message);
    this.name = 'TarError';
    this.member = member;
  }
}

/** A relative path with no '..', '.' or empty parts: safe to join under the extraction dir. */
export function safeMemberName(name: string): boolean {
  if (name === '' || name.startsWith('/') || name.includes('\0') || name.includes('\\')) return false;
  return name.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function splitName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  // ustar: the name may be split at a '/' into a prefix (155 bytes) and a name (100 bytes).
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100) return { prefix, base };
  }
  throw new TarError(`member name too long for ustar: ${name}`, name);
}

export function tarHeader(
  name: string,
  size: number,
  mode: number,
  mtimeMs: number,
  type: '0' | '5',
): Buffer {
  if (!safeMemberName(name)) throw new TarError(`unsafe member name: ${JSON.stringify(name)}`, name);
  if (size > MAX_SIZE) throw new TarError(`${name}: larger than 8 GiB`, name);
  const h = Buffer.alloc(BLOCK);
  const { prefix, base } = splitName(name);
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(mtimeMs / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** Writes a .tar.gz member by member. `close()` ends the archive; `abort()` stops and leaves a partial file. */
export class TarGzWriter {
  private readonly gz = createGzip({ level: 3 });
  private readonly done: Promise<void>;
  private failure: Error | undefined;

  constructor(file: string) {
    this.done = pipeline(this.gz, createWriteStream(file, { mode: 0o600 })).catch((err: Error) => {
      this.failure = err;
    });
  }

  private async write(buf: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.gz.write(buf)) await Promise.race([once(this.gz, 'drain'), this.done]);
    if (this.failure) throw this.failure;
  }

  /** Adds `bytes` of `src` (default: all of it as it is now) as `name`. */
  async addFile(
    name: string,
    src: string,
    opts: { bytes: number; mode: number; mtimeMs: number },
  ): Promise<TarMember> {
    await this.write(tarHeader(name, opts.bytes, opts.mode, opts.mtimeMs, '0'));
    const hash = createHash('sha256');
    let got = 0;
    if (opts.bytes > 0) {
      for await (const chunk of createReadStream(src, {
        start: 0,
        end: opts.bytes - 1,
        highWaterMark: 1 << 20,
      })) {
        const b = chunk as Buffer;
        hash.update(b);
        got += b.length;
        await this.write(b);
      }
    }
    if (got !== opts.bytes)
      throw new TarError(`${name}: expected ${opts.bytes} bytes, read ${got} (file shrank?)`, name);
    await this.pad(got);
    return { name, size: got, sha256: hash.digest('hex'), mode: opts.mode };
  }

  async addBuffer(name: string, data: Buffer, mode: number, mtimeMs = Date.now()): Promise<TarMember> {
    await this.write(tarHeader(name, data.length, mode, mtimeMs, '0'));
    await this.write(data);
    await this.pad(data.length);
    return { name, size: data.length, sha256: sha256Hex(data), mode };
  }

  private async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest !== 0) await this.write(Buffer.alloc(BLOCK - rest));
  }

  async close(): Promise<void> {
    await this.write(Buffer.alloc(2 * BLOCK));
    this.gz.end();
    await this.done;
    if (this.failure) throw this.failure;
  }

  async abort(): Promise<void> {
    this.gz.destroy();
    await this.done;
  }
}

function readOctal(h: Buffer, off: number, len: number): number {
  const text = h
    .toString('ascii', off, off + len)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]*$/.test(text)) return Number.NaN;
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function readString(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

interface ParsedHeader {
  name: string;
  size: number;
  mode: number;
  type: string;
}

function parseHeader(h: Buffer, after: string | undefined): ParsedHeader {
  const where = after ? ` (the member after ${after})` : ' (the first member)';
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  if (readOctal(h, 148, 8) !== sum)
    throw new TarError(`damaged member header${where}: checksum mismatch`, after);
  const prefix = readString(h, 345, 155);
  const base = readString(h, 0, 100);
  const name = (prefix ? `${prefix}/${base}` : base).replace(/\/$/, '');
  const size = readOctal(h, 124, 12);
  const mode = readOctal(h, 100, 8);
  const type = String.fromCharCode(h[156] as number);
  if (!Number.isFinite(size) || !Number.isFinite(mode))
    throw new TarError(`damaged member header${where}`, after);
  if (!safeMemberName(name)) throw new TarError(`unsafe member name ${JSON.stringify(name)}${where}`, name);
  if (type !== '0' && type !== '\0' && type !== '5') {
    throw new TarError(
      `${name}: unsupported member type ${JSON.stringify(type)} (only files and directories)`,
      name,
    );
  }
  return { name, size, mode, type };
}

interface OpenMember {
  name: string;
  size: number;
  mode: number;
  fd: number;
  hash: ReturnType<typeof createHash>;
}

/** The extraction state machine: header block, member bytes, padding; fed decompressed chunks in order. */
class TarExtractor {
  readonly members: TarMember[] = [];
  /** The member whose bytes are being written, if any. */
  current: OpenMember | null = null;
  /** The last member read whole. */
  last: string | undefined;
  zeroBlocks = 0;
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private padding = 0;

  constructor(
    private readonly destDir: string,
    private readonly onMember?: (m: TarMember) => void,
  ) {}

  consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && this.zeroBlocks < 2) {
      if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - off);
        this.padding -= n;
        off += n;
      } else if (this.current) {
        const n = Math.min(this.remaining, chunk.length - off);
        writeSync(this.current.fd, chunk, off, n);
        this.current.hash.update(chunk.subarray(off, off + n));
        this.remaining -= n;
        off += n;
        if (this.remaining === 0) this.finishMember();
      } else {
        const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill === BLOCK) this.startMember();
      }
    }
  }

  private startMember(): void {
    this.headerFill = 0;
    if (this.header.every((b) => b === 0)) {
      this.zeroBlocks++;
      return;
    }
    this.zeroBlocks = 0;
    const h = parseHeader(this.header, this.last);
    const target = join(this.destDir, h.name);
    if (h.type === '5') {
      mkdirSync(target, { recursive: true, mode: 0o700 });
      this.last = h.name;
      return;
    }
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const fd = openSync(target, 'wx', (h.mode & 0o777) | 0o600);
    this.current = { name: h.name, size: h.size, mode: h.mode, fd, hash: createHash('sha256') };
    this.remaining = h.size;
    if (this.remaining === 0) this.finishMember();
  }

  private finishMember(): void {
    const c = this.current;
    if (!c) return;
    closeSync(c.fd);
    const m = { name: c.name, size: c.size, sha256: c.hash.digest('hex'), mode: c.mode };
    this.members.push(m);
    this.last = c.name;
    this.padding = (BLOCK - (c.size % BLOCK)) % BLOCK;
    this.current = null;
    this.onMember?.(m);
  }

  /** Closes a member cut short; returns the name of the member the archive stopped in or after. */
  abandon(): string | undefined {
    const c = this.current;
    if (c) closeSync(c.fd);
    this.current = null;
    return c?.name ?? this.last;
  }
}

/**
 * Extracts a .tar.gz under `destDir` (which must exist), hashing every file on the way; `onMember` hears
 * each file as soon as it is complete (and may throw to stop). Throws TarError naming the member at fault
 * for damage the format reveals (bad header, gzip data error, truncation), with the members read before it
 * in `error.extracted`. Content damage gzip does not notice is left to the caller's checksums.
 */
export async function extractTarGz(
  file: string,
  destDir: string,
  onMember?: (m: TarMember) => void,
): Promise<TarMember[]> {
  const x = new TarExtractor(destDir, onMember);
  // Decompressed chunks are consumed synchronously as they come, so when zlib reports an error everything
  // before it has been looked at and the member being read is where the damage is.
  let own: unknown;
  try {
    await new Promise<void>((resolve, reject) => {
      const input = createReadStream(file);
      const gunzip = createGunzip();
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        input.destroy();
        gunzip.destroy();
        reject(err);
      };
      input.on('error', fail);
      gunzip.on('error', fail);
      gunzip.on('data', (chunk: Buffer) => {
        if (failed) return;
        try {
          x.consume(chunk);
        } catch (err) {
          own = err;
          fail(err);
        }
      });
      gunzip.on('end', () => resolve());
      input.pipe(gunzip);
    });
  } catch (caught) {
    if (own !== undefined && !(own instanceof TarError)) {
      x.abandon();
      throw own;
    }
    const inside = x.current !== null;
    const at = x.abandon();
    const e =
      caught instanceof TarError
        ? caught
        : new TarError(
            `${at ? (inside ? `${at} is damaged` : `damaged after ${at}`) : 'damaged at the start of the archive'}: ${(caught as Error).message}`,
            at,
          );
    throw Object.assign(e, { extracted: x.members });
  }
  if (x.current !== null || x.zeroBlocks < 1) {
    const at = x.abandon();
    throw Object.assign(new TarError(`archive truncated${at ? ` in ${at}` : ''}`, at), {
      extracted: x.members,
    });
  }
  return x.members;
}
