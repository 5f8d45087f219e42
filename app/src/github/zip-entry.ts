import { inflateRawSync } from "node:zlib";
import { errorMessage } from "../../../action/src/error-message.js";

/**
 * Reads one file out of a zip archive held in memory, treating the archive as hostile: nothing is
 * written to disk, only an entry with exactly the expected name (no directories, no `..`, no
 * absolute or Windows paths) is read, its declared and actual sizes are capped, and only the two
 * methods Actions artifacts use (stored, deflate) are accepted.
 */
export class ZipError extends Error {}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function findEndOfCentralDirectory(zip: Buffer): number {
  // The end record is 22 bytes plus a comment of at most 65,535.
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === EOCD) return i;
  }
  throw new ZipError("not a zip archive (no end of central directory)");
}

/** A name an archive may hold for us: a plain file name, nothing that could leave a directory. */
export function isPlainFileName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && !/[\\/\0:]/.test(name) && name !== "." && name !== "..";
}

/** The bytes of entry `wanted`, at most `maxBytes` of them; throws ZipError for anything else. */
export function readZipEntry(zip: Buffer, wanted: string, maxBytes: number): Buffer {
  const eocd = findEndOfCentralDirectory(zip);
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 46 > zip.length || zip.readUInt32LE(offset) !== CENTRAL) throw new ZipError("corrupt central directory");
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localOffset = zip.readUInt32LE(offset + 42);
    const name = zip.subarray(offset + 46, offset + 46 + nameLength).toString("utf8");
    names.push(name);
    offset += 46 + nameLength + extraLength + commentLength;
    if (!isPlainFileName(name)) throw new ZipError(`the archive holds a path, not a plain file name: ${JSON.stringify(name.slice(0, 100))}`);
    if (name !== wanted) continue;
    if (size > maxBytes) throw new ZipError(`${wanted} declares ${size} bytes; the limit is ${maxBytes}`);
    if (localOffset + 30 > zip.length || zip.readUInt32LE(localOffset) !== LOCAL) throw new ZipError("corrupt local header");
    const start = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    if (start + compressedSize > zip.length) throw new ZipError("the archive is truncated");
    const data = zip.subarray(start, start + compressedSize);
    let content: Buffer;
    if (method === 0) content = Buffer.from(data);
    else if (method === 8) {
      try {
        // maxOutputLength stops a zip bomb at the cap, whatever the header declared.
        content = inflateRawSync(data, { maxOutputLength: maxBytes + 1 });
      } catch (error) {
        throw new ZipError(`${wanted} does not inflate: ${errorMessage(error)}`);
      }
    } else throw new ZipError(`${wanted} uses compression method ${method}; only stored and deflate are read`);
    if (content.length > maxBytes) throw new ZipError(`${wanted} holds more than ${maxBytes} bytes`);
    if (content.length !== size) throw new ZipError(`${wanted} declares ${size} bytes but holds ${content.length}`);
    return content;
  }
  throw new ZipError(
    `the archive holds no ${wanted} (it holds ${
      names
        .slice(0, 5)
        .map((n) => JSON.stringify(n.slice(0, 60)))
        .join(", ") || "nothing"
    })`,
  );
}
