/**
 * The Keras 3 `.keras` zip, through fflate, with size guards checked from the zip's own directory before
 * anything is inflated: a zip bomb ends in one KerasFormatError line, not in an out-of-memory crash.
 */
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { KerasFormatError } from './errors';
import { oneLine } from './h5';

/** `.keras` files above this size are refused before they are read. */
export const MAX_KERAS_ZIP_BYTES = 1.5 * 1024 ** 3;
/** Inflated size of all entries together. */
export const MAX_UNZIPPED_BYTES = 2 * 1024 ** 3;
/** `config.json` / `metadata.json` above this are not a model config. */
export const MAX_JSON_ENTRY_BYTES = 64 * 1024 ** 2;
/** An entry inflating more than this many times its stored size, past 1 MiB, is a bomb, not a model. */
const MAX_RATIO = 200;

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

export interface ZipEntry {
  name: string;
  compression: number;
  data: Uint8Array;
}

export function readZip(bytes: Uint8Array, file: string): ZipEntry[] {
  const order: { name: string; compression: number }[] = [];
  let total = 0;
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        const limit = /\.json$/.test(f.name) ? MAX_JSON_ENTRY_BYTES : MAX_UNZIPPED_BYTES;
        if (f.originalSize > limit) {
          throw new KerasFormatError(
            `zip entry '${f.name}' inflates to ${mib(f.originalSize)}, over the ${mib(limit)} limit`,
            file,
          );
        }
        if (f.originalSize > 2 ** 20 && f.originalSize > MAX_RATIO * Math.max(1, f.size)) {
          throw new KerasFormatError(
            `zip entry '${f.name}' inflates ${Math.round(f.originalSize / Math.max(1, f.size))}× (${mib(f.originalSize)}): refused as a zip bomb`,
            file,
          );
        }
        total += f.originalSize;
        if (total > MAX_UNZIPPED_BYTES)
          throw new KerasFormatError(`zip entries inflate to over ${mib(MAX_UNZIPPED_BYTES)} together`, file);
        order.push({ name: f.name, compression: f.compression });
        return true;
      },
    });
  } catch (err) {
    if (err instanceof KerasFormatError) throw err;
    throw new KerasFormatError(`not a readable .keras zip (${oneLine(err)})`, file);
  }
  return order.map((e) => {
    const data = files[e.name];
    if (!data) throw new KerasFormatError(`zip entry '${e.name}' could not be read`, file);
    return { ...e, data };
  });
}

/** Writes the entries in the given order, each stored or deflated as in the input. */
export function writeZip(entries: ZipEntry[]): Uint8Array {
  const z: Zippable = {};
  for (const e of entries) z[e.name] = [e.data, { level: e.compression === 0 ? 0 : 6 }];
  return zipSync(z);
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(0)} MiB`;
}
