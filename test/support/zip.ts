/**
 * Test support: PKZIP archives written by hand, so tests can build the artifacts a hostile
 * workflow run could upload as easily as honest ones: entry names with `../`, absolute paths or
 * backslashes, sizes and CRCs that lie, symlinks, names that differ between the local header and
 * the central directory, many entries, and zip bombs (`{ repeat, times }` data is deflated chunk by
 * chunk, so a 1 GB bomb costs about 1 MB of memory to build).
 *
 * Layout (APPNOTE.TXT 6.3): per entry a local file header and its data, then the central
 * directory, then the end of central directory record. No ZIP64: sizes, offsets and entry counts
 * must fit the classic fields.
 */
import * as zlib from "node:zlib";

export interface ZipEntry {
  /** Written as given (UTF-8, flag bit 11 when not ASCII): `../x`, `/etc/x`, `a\\b` all allowed. */
  name: string;
  /**
   * The content, or `{ repeat, times }`: `repeat` concatenated `times` times, never held in memory
   * whole when deflated (the zip bomb case).
   */
  data: Buffer | string | { repeat: Buffer | string; times: number };
  /** Default `deflate`. */
  method?: "store" | "deflate";
  /** The uncompressed size written in both headers instead of the real one (a lie). */
  declaredSize?: number;
  /** The CRC-32 written in both headers instead of the real one (a corrupt entry). */
  declaredCrc?: number;
  /** The name in the central directory, when it should differ from the local header's. */
  centralName?: string;
  /** A Unix symlink entry (`data` is the link target). */
  symlink?: boolean;
}

/** zlib.crc32 (Node 20.15+, 22.2+), else a table implementation. */
const nativeCrc32 = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32;
let table: Uint32Array | undefined;

function crc32(data: Buffer, previous = 0): number {
  if (nativeCrc32) return nativeCrc32(data, previous);
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~previous >>> 0;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** An empty final deflate block (fixed Huffman, BFINAL set, just end-of-block). */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);

/** The bytes of an entry: uncompressed size, CRC-32 and the stored or deflated stream. */
function encode(entry: ZipEntry): { size: number; crc: number; compressed: Buffer; method: number } {
  const method = entry.method === "store" ? 0 : 8;
  const data = entry.data;
  if (Buffer.isBuffer(data) || typeof data === "string") {
    const bytes = Buffer.from(data);
    return { size: bytes.length, crc: crc32(bytes), compressed: method === 8 ? zlib.deflateRawSync(bytes, { level: 9 }) : bytes, method };
  }
  const chunk = Buffer.from(data.repeat);
  const size = chunk.length * data.times;
  let crc = 0;
  for (let i = 0; i < data.times; i++) crc = crc32(chunk, crc);
  if (method === 0) return { size, crc, compressed: Buffer.concat(Array.from({ length: data.times }, () => chunk)), method };
  // Each chunk deflated on its own and ended with a sync flush (byte-aligned, not final), so the
  // same compressed piece can be repeated; back-references never cross pieces. Then a final block.
  const piece = zlib.deflateRawSync(chunk, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return { size, crc, compressed: Buffer.concat([...Array.from({ length: data.times }, () => piece), FINAL_EMPTY_BLOCK]), method };
}

/** 2024-01-01 00:00:00 in MS-DOS date and time. */
const DOS_DATE = ((2024 - 1980) << 9) | (1 << 5) | 1;
const DOS_TIME = 0;
const UNIX = 3;

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`${what} ${value} does not fit a zip (no ZIP64 here)`);
  return value;
}

/** A zip of the entries, in order. */
export function makeZip(entries: ZipEntry[]): Buffer {
  if (entries.length > 0xffff) throw new Error(`${entries.length} entries need ZIP64`);
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const { size, crc, compressed, method } = encode(entry);
    const name = Buffer.from(entry.name, "utf8");
    const centralName = Buffer.from(entry.centralName ?? entry.name, "utf8");
    // eslint-disable-next-line no-control-regex
    const flags = /[^\x00-\x7f]/.test(entry.name + (entry.centralName ?? "")) ? 0x0800 : 0;
    const declaredSize = u32(entry.declaredSize ?? size, "uncompressed size");
    const declaredCrc = (entry.declaredCrc ?? crc) >>> 0;
    const isDir = entry.name.endsWith("/") && !entry.symlink;
    const mode = entry.symlink ? 0o120777 : isDir ? 0o040755 : 0o100644;
    const external = ((mode << 16) | (isDir ? 0x10 : 0)) >>> 0;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(declaredCrc, 14);
    local.writeUInt32LE(u32(compressed.length, "compressed size"), 18);
    local.writeUInt32LE(declaredSize, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // extra field length

    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE((UNIX << 8) | 20, 4); // made by: Unix, 2.0 (so the mode bits count)
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(flags, 8);
    header.writeUInt16LE(method, 10);
    header.writeUInt16LE(DOS_TIME, 12);
    header.writeUInt16LE(DOS_DATE, 14);
    header.writeUInt32LE(declaredCrc, 16);
    header.writeUInt32LE(compressed.length, 20);
    header.writeUInt32LE(declaredSize, 24);
    header.writeUInt16LE(centralName.length, 28);
    header.writeUInt16LE(0, 30); // extra
    header.writeUInt16LE(0, 32); // comment
    header.writeUInt16LE(0, 34); // disk number start
    header.writeUInt16LE(0, 36); // internal attributes
    header.writeUInt32LE(external, 38);
    header.writeUInt32LE(u32(offset, "local header offset"), 42);

    parts.push(local, name, compressed);
    central.push(header, centralName);
    offset += local.length + name.length + compressed.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4); // this disk
  end.writeUInt16LE(0, 6); // disk with the central directory
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(u32(directory.length, "central directory size"), 12);
  end.writeUInt32LE(u32(offset, "central directory offset"), 16);
  end.writeUInt16LE(0, 20); // comment length
  return Buffer.concat([...parts, directory, end]);
}

/** The artifact bisect.yml uploads: `bisect-result-<jobId>.json` holding the result document. */
export function resultZip(jobId: string, document: unknown): Buffer {
  return makeZip([{ name: `bisect-result-${jobId}.json`, data: JSON.stringify(document) }]);
}
