/**
 * `torch.save(model.state_dict(), 'x.pt')` files (the zip format PyTorch writes since 1.6: `<name>/data.pkl`,
 * one `<name>/data/<key>` per storage, `<name>/version`) ↔ a plain state_dict: key → dtype, shape and the raw
 * little-endian bytes of a contiguous tensor. The legacy (pre-1.6, non-zip) format is refused with its name.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { PyTorchFormatError } from './errors';
import { OrderedDict, Pickler, STORAGE_DTYPES, StorageRef, TensorRef, unpickle, type PickleValue } from './pickle';

export const MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3;
const MAX_RATIO = 200;

export interface TorchTensor {
  /** Storage class (`FloatStorage`, `LongStorage`, …): the dtype as torch.save names it. */
  storage: string;
  shape: number[];
  /** Contiguous row-major element bytes. */
  bytes: Uint8Array;
}

export interface StateDict {
  /** The zip's top folder (`archive` or the file's base name): written back the same. */
  prefix: string;
  tensors: Map<string, TorchTensor>;
  /** `state_dict._metadata` (module versions), kept for load_state_dict. */
  metadata?: Map<PickleValue, PickleValue>;
  /** Other entries (`version`, `byteorder`, …), verbatim. */
  extra: { name: string; data: Uint8Array }[];
}

export function float32Of(t: TorchTensor): Float32Array {
  if (t.storage !== 'FloatStorage') throw new PyTorchFormatError(`expected a float32 tensor, got ${t.storage}`);
  return new Float32Array(t.bytes.buffer.slice(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.byteLength));
}

export async function readStateDict(file: string): Promise<StateDict> {
  let buf: Buffer;
  try {
    const st = await fs.stat(file);
    if (st.size > MAX_CHECKPOINT_BYTES)
      throw new PyTorchFormatError(`checkpoint is over the ${MAX_CHECKPOINT_BYTES / 2 ** 30} GiB limit`, file);
    buf = await fs.readFile(file);
  } catch (err) {
    if (err instanceof PyTorchFormatError) throw err;
    throw new PyTorchFormatError('file not found', file);
  }
  if (!(buf[0] === 0x50 && buf[1] === 0x4b)) {
    throw new PyTorchFormatError(
      buf[0] === 0x80
        ? 'a legacy (pre-1.6, non-zip) torch.save file; re-save it with a current PyTorch'
        : 'not a PyTorch zip checkpoint',
      file,
    );
  }
  let files: Record<string, Uint8Array>;
  const order: string[] = [];
  try {
    let total = 0;
    files = unzipSync(buf, {
      filter: (f) => {
        if (f.originalSize > 2 ** 20 && f.originalSize > MAX_RATIO * Math.max(1, f.size)) {
          throw new PyTorchFormatError(
            `zip entry '${f.name}' inflates ${Math.round(f.originalSize / Math.max(1, f.size))}×: refused as a zip bomb`,
            file,
          );
        }
        total += f.originalSize;
        if (total > MAX_CHECKPOINT_BYTES) throw new PyTorchFormatError('zip entries inflate past the size limit', file);
        order.push(f.name);
        return true;
      },
    });
  } catch (err) {
    if (err instanceof PyTorchFormatError) throw err;
    throw new PyTorchFormatError(`not a readable zip (${(err as Error).message})`, file);
  }
  const pkl = order.find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new PyTorchFormatError('no <name>/data.pkl in the zip: not a torch.save checkpoint', file);
  const prefix = pkl.slice(0, pkl.indexOf('/'));
  const root = unpickle(files[pkl], file);
  const dict = root instanceof Map ? root : undefined;
  if (!dict)
    throw new PyTorchFormatError('data.pkl holds no dict: save model.state_dict(), not the model object', file);
  const tensors = new Map<string, TorchTensor>();
  for (const [k, v] of dict) {
    if (typeof k !== 'string') throw new PyTorchFormatError('a state_dict key that is not a string', file);
    if (!(v instanceof TensorRef))
      throw new PyTorchFormatError(
        `'${k}' is not a tensor (a checkpoint with more than a state_dict? save model.state_dict())`,
        file,
      );
    tensors.set(k, materialize(v, files[`${prefix}/data/${v.storage.key}`], k, file));
  }
  return {
    prefix,
    tensors,
    metadata:
      root instanceof OrderedDict
        ? (root.state?.get('_metadata') as Map<PickleValue, PickleValue> | undefined)
        : undefined,
    extra: order
      .filter((n) => n !== pkl && !n.startsWith(`${prefix}/data/`))
      .map((name) => ({ name, data: files[name] })),
  };
}

/** The tensor's elements, contiguous, from its storage, offset and strides. */
function materialize(t: TensorRef, storage: Uint8Array | undefined, key: string, file: string): TorchTensor {
  const el = STORAGE_DTYPES[t.storage.dtype].bytes;
  if (!storage) throw new PyTorchFormatError(`storage '${t.storage.key}' of '${key}' is missing from the zip`, file);
  if (storage.length < t.storage.numel * el)
    throw new PyTorchFormatError(`storage '${t.storage.key}' of '${key}' is truncated`, file);
  const n = t.shape.reduce((a, b) => a * b, 1);
  const contiguous = t.stride.every(
    (s, d) => t.shape[d] === 1 || s === t.shape.slice(d + 1).reduce((a, b) => a * b, 1),
  );
  if (contiguous) {
    if (t.offset + n > t.storage.numel) throw new PyTorchFormatError(`'${key}' reads outside its storage`, file);
    return { storage: t.storage.dtype, shape: [...t.shape], bytes: storage.slice(t.offset * el, (t.offset + n) * el) };
  }
  const out = new Uint8Array(n * el);
  const idx = new Array(t.shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let src = t.offset;
    for (let d = 0; d < idx.length; d++) src += idx[d] * t.stride[d];
    if (src < 0 || src >= t.storage.numel) throw new PyTorchFormatError(`'${key}' reads outside its storage`, file);
    out.set(storage.subarray(src * el, src * el + el), i * el);
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return { storage: t.storage.dtype, shape: [...t.shape], bytes: out };
}

/** The checkpoint as bytes: one storage per tensor, stored (not deflated), as torch.save writes it. */
export function stateDictBytes(sd: StateDict): Uint8Array {
  const dict = new OrderedDict();
  const z: Zippable = {};
  const entries: [string, Uint8Array][] = [];
  let i = 0;
  for (const [k, t] of sd.tensors) {
    const key = String(i++);
    const el = STORAGE_DTYPES[t.storage].bytes;
    const numel = t.bytes.length / el;
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    dict.set(k, new TensorRef(new StorageRef(t.storage, key, 'cpu', numel), 0, t.shape, stride));
    entries.push([`${sd.prefix}/data/${key}`, t.bytes]);
  }
  if (sd.metadata) dict.state = new Map([['_metadata', sd.metadata]]);
  const p = new Pickler();
  p.proto();
  p.value(dict);
  p.stop();
  z[`${sd.prefix}/data.pkl`] = [p.bytes(), { level: 0 }];
  for (const [name, data] of entries) z[name] = [data, { level: 0 }];
  for (const e of sd.extra) z[e.name] = [e.data, { level: 0 }];
  return zipSync(z);
}

/** Writes through a temporary sibling and a rename: never a half-written checkpoint. */
export async function writeStateDict(sd: StateDict, file: string): Promise<void> {
  const target = path.resolve(file);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    await fs.writeFile(tmp, stateDictBytes(sd));
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** `model.pt` / `model.pth` beside `model.onnx` (the checkpoint whose export the ONNX file is), if there is one. */
export async function findStateDictBeside(onnxFile: string): Promise<string | undefined> {
  const base = onnxFile.replace(/\.onnx$/i, '');
  for (const ext of ['.pt', '.pth']) {
    try {
      if ((await fs.stat(base + ext)).isFile()) return base + ext;
    } catch {
      // not there
    }
  }
  return undefined;
}
