/**
 * A strict unpickler for `torch.save(model.state_dict())`'s `data.pkl`, and the pickler that writes one back.
 *
 * Python's pickle is a small stack machine whose GLOBAL/REDUCE opcodes call any importable function: loading
 * an untrusted pickle is running untrusted code. This reader never calls anything. It knows the opcodes a
 * state_dict uses (protocols 2–4) and exactly four globals — `collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` and the `torch.*Storage` classes named
 * in persistent ids — and interprets those itself; any other opcode or global ends the read with one
 * PyTorchFormatError line before anything else happens.
 */
import { PyTorchFormatError } from './errors';

export class Tuple {
  constructor(readonly items: PickleValue[]) {}
}
/** `collections.OrderedDict`, with the instance state a BUILD gave it (a state_dict's `_metadata`). */
export class OrderedDict extends Map<PickleValue, PickleValue> {
  state?: Map<PickleValue, PickleValue>;
}
export class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}
/** A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`. */
export class StorageRef {
  constructor(
    readonly dtype: string,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
  ) {}
}
/** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`, never executed: described. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Tuple
  | Map<PickleValue, PickleValue>
  | OrderedDict
  | Global
  | StorageRef
  | TensorRef;

/** Storage classes a state_dict may name, with their element type. */
export const STORAGE_DTYPES: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Limits that keep a hostile pickle from exhausting memory before it is refused. */
const MAX_STACK = 1_000_000;
const MAX_STRING = 64 * 2 ** 20;

export function unpickle(bytes: Uint8Array, file: string): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  const fail = (msg: string): never => {
    throw new PyTorchFormatError(`data.pkl: ${msg}; nothing in it was executed`, file);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`truncated at byte ${pos}`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const str = (n: number): string => {
    if (n > MAX_STRING) fail(`a ${n}-byte string`);
    need(n);
    pos += n;
    return new TextDecoder().decode(bytes.subarray(pos - n, pos));
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) fail(`unterminated GLOBAL name at byte ${pos}`);
    const s = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: Slot) => {
    if (stack.length >= MAX_STACK) fail('stack too deep');
    stack.push(v);
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) return fail(`stack underflow at byte ${pos}`);
    return v;
  };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail(`no MARK at byte ${pos}`);
    const items = stack.splice(i) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail(`stack underflow at byte ${pos}`);
    return v;
  };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full))
      fail(`global '${full}' is not one a state_dict uses (only OrderedDict, tensors and storages are accepted)`);
    return new Global(module, name);
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!(target instanceof Map)) fail('SETITEM on something that is not a dict');
    const m = target as Map<PickleValue, PickleValue>;
    for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i], items[i + 1]);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME (protocol 4): a length prefix, nothing to do
        need(8);
        pos += 8;
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail('stack not balanced at STOP');
        return pop();
      case 0x28: // MARK
        push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(new Tuple([]));
        break;
      case 0x74: // TUPLE
        push(new Tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new Tuple([pop()]));
        break;
      case 0x86: {
        const b = pop();
        push(new Tuple([pop(), b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        push(new Tuple([pop(), b, c]));
        break;
      }
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]);
        if (n > 0 && bytes[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(u8()));
        break;
      case 0x43: {
        // SHORT_BINBYTES
        const n = u8();
        need(n);
        push(bytes.slice(pos, pos + n));
        pos += n;
        break;
      }
      case 0x63: // GLOBAL "module\nname\n"
        push(global(line(), line()));
        break;
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL without names');
        push(global(module as string, name as string));
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo ${k} read before it was written`);
        push(memo.get(k)!);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND to something that is not a list');
        (l as PickleValue[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS to something that is not a list');
        (l as PickleValue[]).push(...items);
        break;
      }
      case 0x51: {
        // BINPERSID: ('storage', torch.XStorage, key, location, numel)
        const pid = pop();
        const items = pid instanceof Tuple ? pid.items : [];
        const [kind, cls, key, location, numel] = items;
        if (
          kind !== 'storage' ||
          !(cls instanceof Global) ||
          !STORAGE_DTYPES[cls.name] ||
          typeof key !== 'string' ||
          typeof numel !== 'number'
        ) {
          fail('a persistent id that is not a torch storage');
        }
        push(new StorageRef((cls as Global).name, key as string, String(location), numel as number));
        break;
      }
      case 0x52: {
        // REDUCE: only the allowed callables, interpreted here
        const args = pop();
        const fn = pop();
        if (!(fn instanceof Global) || !(args instanceof Tuple))
          fail(`REDUCE of something that is not an allowed global at byte ${at}`);
        push(reduce(fn as Global, (args as Tuple).items, fail));
        break;
      }
      case 0x62: {
        // BUILD: instance state, accepted only for an OrderedDict (state_dict._metadata)
        const state = pop();
        const obj = top();
        if (!(obj instanceof OrderedDict) || !(state instanceof Map))
          fail('BUILD on something other than an OrderedDict');
        (obj as OrderedDict).state = state as Map<PickleValue, PickleValue>;
        break;
      }
      default:
        fail(
          `opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}') at byte ${at} is not one a state_dict uses`,
        );
    }
  }
}

function reduce(fn: Global, args: PickleValue[], fail: (m: string) => never): PickleValue {
  const full = `${fn.module}.${fn.name}`;
  if (full === 'collections.OrderedDict') {
    if (args.length) fail('OrderedDict called with arguments');
    return new OrderedDict();
  }
  if (full === 'torch._utils._rebuild_tensor_v2') {
    const [storage, offset, size, stride] = args;
    const ints = (t: PickleValue) =>
      t instanceof Tuple && t.items.every((x) => typeof x === 'number') ? (t.items as number[]) : undefined;
    if (!(storage instanceof StorageRef) || typeof offset !== 'number' || !ints(size) || !ints(stride))
      fail('_rebuild_tensor_v2 with unexpected arguments');
    return new TensorRef(storage as StorageRef, offset as number, ints(size)!, ints(stride)!);
  }
  if (full === 'torch._utils._rebuild_parameter') {
    if (!(args[0] instanceof TensorRef)) fail('_rebuild_parameter of something that is not a tensor');
    return args[0];
  }
  return fail(`'${full}' cannot be called`);
}

/** Pickles a state_dict (an OrderedDict of tensors, with `_metadata`) in protocol 2, as torch.save does. */
export class Pickler {
  private readonly parts: number[] = [];

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }

  private op(...b: number[]): void {
    for (const x of b) this.parts.push(x);
  }

  private raw(buf: Uint8Array): void {
    for (const x of buf) this.parts.push(x);
  }

  proto(): void {
    this.op(0x80, 2);
  }

  stop(): void {
    this.op(0x2e);
  }

  global(module: string, name: string): void {
    this.op(0x63);
    this.raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }

  value(v: PickleValue): void {
    if (v === null) this.op(0x4e);
    else if (v === true) this.op(0x88);
    else if (v === false) this.op(0x89);
    else if (typeof v === 'number' && Number.isInteger(v)) this.int(v);
    else if (typeof v === 'number') {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, v, false);
      this.op(0x47);
      this.raw(new Uint8Array(b.buffer));
    } else if (typeof v === 'string') {
      const s = new TextEncoder().encode(v);
      this.op(0x58, s.length & 0xff, (s.length >> 8) & 0xff, (s.length >> 16) & 0xff, (s.length >>> 24) & 0xff);
      this.raw(s);
    } else if (v instanceof Tuple) {
      this.op(0x28);
      for (const x of v.items) this.value(x);
      this.op(0x74);
    } else if (v instanceof OrderedDict) {
      this.global('collections', 'OrderedDict');
      this.op(0x29, 0x52);
      this.items(v);
      if (v.state?.size) {
        this.op(0x7d);
        this.items(v.state);
        this.op(0x62);
      }
    } else if (v instanceof Map) {
      this.op(0x7d);
      this.items(v);
    } else if (v instanceof TensorRef) {
      this.global('torch._utils', '_rebuild_tensor_v2');
      this.op(0x28);
      this.op(0x28);
      this.value('storage');
      this.global('torch', v.storage.dtype);
      this.value(v.storage.key);
      this.value(v.storage.location);
      this.int(v.storage.numel);
      this.op(0x74, 0x51);
      this.int(v.offset);
      this.value(new Tuple(v.shape));
      this.value(new Tuple(v.stride));
      this.op(0x89); // requires_grad False
      this.global('collections', 'OrderedDict');
      this.op(0x29, 0x52); // backward hooks: an empty OrderedDict
      this.op(0x74, 0x52);
    } else {
      throw new PyTorchFormatError(`cannot pickle a ${Object.prototype.toString.call(v)} into a state_dict`);
    }
  }

  private items(m: Map<PickleValue, PickleValue>): void {
    if (!m.size) return;
    this.op(0x28);
    for (const [k, x] of m) {
      this.value(k);
      this.value(x);
    }
    this.op(0x75);
  }

  private int(n: number): void {
    if (n >= 0 && n < 256) this.op(0x4b, n);
    else if (n >= 0 && n < 65536) this.op(0x4d, n & 0xff, n >> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31)
      this.op(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
    else {
      let v = BigInt(n);
      const out: number[] = [];
      while (v !== 0n && v !== -1n) {
        out.push(Number(v & 0xffn));
        v >>= 8n;
      }
      if (!out.length || (out[out.length - 1] & 0x80) !== (n < 0 ? 0x80 : 0)) out.push(n < 0 ? 0xff : 0);
      this.op(0x8a, out.length, ...out);
    }
  }
}
