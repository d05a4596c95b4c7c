/**
 * Seeded mutators over real seed files: bytes (flips, truncation, insertion), JSON fields (types, NaN/Inf,
 * huge and negative numbers, deep nesting, removed fields), ONNX messages (decoded, mutated, re-encoded),
 * YAML text (aliases, anchors, nesting) and the targeted attacks the issue lists (shard paths to /dev/zero,
 * FIFOs, `..`, links out; 30,000-layer chains; 10^7 filters; Flatten over a huge map). Every mutation is a
 * pure function of the Rng, so a case is reproduced from (seed, case index).
 */
import { stringify as yamlStringify } from 'yaml';
import { decodeModel, encodeModel, type ModelProto } from '../../server/src/engine/formats/onnx/proto';
import type { Rng } from '../../server/src/engine/util/rng';

/** Placeholders for numbers JSON cannot hold; replaced in the serialized text (1e999 parses as Infinity; NaN makes the text invalid, so it is rare). */
const INF = '__FUZZ_INF__';
const NINF = '__FUZZ_NINF__';
const NAN = '__FUZZ_NAN__';

export const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length)];

/** Files of one case: name → content (a `link:` or `fifo` entry makes a symlink or FIFO instead). */
export type CaseFiles = Record<string, Buffer | { link: string } | { fifo: true } | { dir: true }>;

// ---- bytes ----------------------------------------------------------------------------------------------

export function mutateBytes(rng: Rng, input: Buffer): { data: Buffer; how: string } {
  const b = Buffer.from(input);
  const op = rng.int(0, 5);
  if (b.length === 0) return { data: Buffer.from([rng.int(0, 256)]), how: 'one byte' };
  switch (op) {
    case 0: {
      const n = 1 + rng.int(0, 8);
      for (let i = 0; i < n; i++) b[rng.int(0, b.length)] ^= 1 << rng.int(0, 8);
      return { data: b, how: `flip ${n} bits` };
    }
    case 1: {
      const at = rng.int(0, b.length);
      return { data: b.subarray(0, at), how: `truncate at ${at}` };
    }
    case 2: {
      const at = rng.int(0, b.length);
      const extra = Buffer.alloc(1 + rng.int(0, 16));
      for (let i = 0; i < extra.length; i++) extra[i] = rng.int(0, 256);
      return {
        data: Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]),
        how: `insert ${extra.length} bytes at ${at}`,
      };
    }
    case 3: {
      const at = rng.int(0, b.length);
      const len = Math.min(b.length - at, 1 + rng.int(0, 64));
      b.fill(pick(rng, [0, 0xff, 0x7f, 0x80]), at, at + len);
      return { data: b, how: `fill ${len} bytes at ${at}` };
    }
    default: {
      const at = rng.int(0, b.length);
      const len = Math.min(b.length - at, 1 + rng.int(0, 256));
      return {
        data: Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]),
        how: `duplicate ${len} bytes at ${at}`,
      };
    }
  }
}

// ---- JSON values ----------------------------------------------------------------------------------------

type Path = (string | number)[];

/** Every path into a JSON-like value, walked iteratively (at most `limit`, sampled evenly). */
export function jsonPaths(value: unknown, limit = 20000): Path[] {
  const out: Path[] = [];
  const stack: [unknown, Path][] = [[value, []]];
  while (stack.length && out.length < limit) {
    const [v, p] = stack.pop()!;
    out.push(p);
    // Paths are copied per level: below 100 levels (a deep value an earlier mutation inserted) the walk would
    // cost depth² memory (it once took the main thread to 3 GiB), and nothing new is found there.
    if (v instanceof Uint8Array || v === null || typeof v !== 'object' || p.length >= 100) continue;
    if (Array.isArray(v)) v.forEach((c, i) => stack.push([c, [...p, i]]));
    else for (const [k, c] of Object.entries(v)) stack.push([c, [...p, k]]);
  }
  return out;
}

function getAt(root: unknown, p: Path): unknown {
  let v = root;
  for (const k of p) v = (v as Record<string | number, unknown>)[k];
  return v;
}

function setAt(root: unknown, p: Path, value: unknown, remove = false): void {
  const parent = getAt(root, p.slice(0, -1)) as Record<string | number, unknown> | unknown[];
  const k = p[p.length - 1];
  if (remove) {
    if (Array.isArray(parent)) parent.splice(Number(k), 1);
    else delete (parent as Record<string, unknown>)[k];
  } else (parent as Record<string | number, unknown>)[k] = value;
}

function deep(rng: Rng): unknown {
  const depth = pick(rng, [70, 500, 5000, 50000]);
  let v: unknown = pick(rng, [1, 'x', null]);
  for (let i = 0; i < depth; i++) v = rng.next() < 0.5 ? [v] : { a: v };
  return v;
}

/** A replacement value of some other type or an extreme size. */
export function oddValue(rng: Rng, old: unknown): unknown {
  const choices: (() => unknown)[] = [
    () => INF,
    () => NINF,
    () => (rng.next() < 0.1 ? NAN : -1),
    () => 0,
    () => 1.5,
    () => 1e7,
    () => 1e15,
    () => 2 ** 53 + 2,
    () => -(2 ** 31),
    () => 'str',
    () => '',
    () => '../../etc/passwd',
    () => true,
    () => null,
    () => [],
    () => ({}),
    () => [INF, NINF],
    () => [1e7, 1e7],
    () => [[]],
    () => deep(rng),
    () => (typeof old === 'number' ? old * pick(rng, [-1, 1000, 1e6, 0]) : old),
    () => (Array.isArray(old) ? [...old, ...old] : [old]),
    () => (Array.isArray(old) ? old.slice(0, rng.int(0, old.length + 1)) : { value: old }),
    () => (typeof old === 'string' ? old + old : String(old)),
  ];
  return pick(rng, choices)();
}

/** Serializes with the placeholders turned into NaN / ±Infinity literals JSON.parse reads as 1e999 etc. */
export function toJsonText(value: unknown): string {
  // Deeply nested values would overflow JSON.stringify's recursion: serialize them iteratively.
  return serialize(value)
    .replace(new RegExp(`"${INF}"`, 'g'), '1e999')
    .replace(new RegExp(`"${NINF}"`, 'g'), '-1e999')
    .replace(new RegExp(`"${NAN}"`, 'g'), 'NaN');
}

function serialize(value: unknown): string {
  const out: string[] = [];
  const stack: (unknown | { close: string } | { sep: string })[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v && typeof v === 'object' && 'close' in (v as object) && Object.keys(v as object).length === 1) {
      out.push((v as { close: string }).close);
      continue;
    }
    if (v && typeof v === 'object' && 'sep' in (v as object) && Object.keys(v as object).length === 1) {
      out.push((v as { sep: string }).sep);
      continue;
    }
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) {
      out.push(JSON.stringify(v instanceof Uint8Array ? Array.from(v) : v) ?? 'null');
      continue;
    }
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ close: ']' });
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        if (i > 0) stack.push({ sep: ',' });
      }
    } else {
      const entries = Object.entries(v as Record<string, unknown>);
      out.push('{');
      stack.push({ close: '}' });
      for (let i = entries.length - 1; i >= 0; i--) {
        stack.push(entries[i][1]);
        stack.push({ sep: `${i > 0 ? ',' : ''}${JSON.stringify(entries[i][0])}:` });
      }
    }
  }
  return out.join('');
}

/** Mutates 1–3 fields of a parsed JSON value in place (prefers fields whose names matter to readers). */
export function mutateJsonValue(rng: Rng, value: unknown): string[] {
  const hows: string[] = [];
  const n = 1 + rng.int(0, 3);
  for (let i = 0; i < n; i++) {
    const paths = jsonPaths(value).filter((p) => p.length > 0);
    if (!paths.length) break;
    const interesting = paths.filter(
      (p) => typeof p[p.length - 1] === 'string' && INTERESTING.has(p[p.length - 1] as string),
    );
    const p = interesting.length && rng.next() < 0.6 ? pick(rng, interesting) : pick(rng, paths);
    const old = getAt(value, p);
    if (rng.next() < 0.15) {
      setAt(value, p, undefined, true);
      hows.push(`remove ${p.join('.')}`);
    } else {
      const v = oddValue(rng, old);
      setAt(value, p, v);
      hows.push(
        `set ${p.join('.')} = ${typeof v === 'object' && v !== null ? (Array.isArray(v) ? `[${v.length}]` : '{…}') : String(v)}`,
      );
    }
  }
  return hows;
}

const INTERESTING = new Set([
  'filters',
  'units',
  'kernel_size',
  'strides',
  'dilation_rate',
  'padding',
  'pool_size',
  'size',
  'cropping',
  'axis',
  'target_shape',
  'dims',
  'batch_input_shape',
  'batch_shape',
  'depth_multiplier',
  'inbound_nodes',
  'input_layers',
  'output_layers',
  'name',
  'class_name',
  'layers',
  'config',
  'paths',
  'weights',
  'shape',
  'dtype',
  'quantization',
  'scale',
  'min',
  'keep',
  'version',
  'model',
  'data',
  'method',
  'varianceThreshold',
  'exclude',
  'images',
  'attribute',
  'ints',
  'i',
  'f',
  't',
  'type',
  'dims',
  'input',
  'output',
  'initializer',
  'node',
  'rawData',
  'dataType',
  'floatData',
  'dimValue',
  'opType',
  'domain',
]);

// ---- targeted TF.js model attacks -----------------------------------------------------------------------

/** Shard path attacks: each returns the value for `paths[0]` and any files the case folder needs. */
export function shardAttack(rng: Rng): { path: unknown; files: CaseFiles; how: string } {
  const attacks: (() => { path: unknown; files: CaseFiles; how: string })[] = [
    () => ({ path: '../../../../../../etc/passwd', files: {}, how: 'shard path escapes with ..' }),
    () => ({ path: '/etc/passwd', files: {}, how: 'absolute shard path' }),
    () => ({ path: '/dev/zero', files: {}, how: 'shard is /dev/zero' }),
    () => ({ path: '/dev/urandom', files: {}, how: 'shard is /dev/urandom' }),
    () => ({ path: 'pipe.bin', files: { 'pipe.bin': { fifo: true } }, how: 'shard is a FIFO' }),
    () => ({
      path: 'out.bin',
      files: { 'out.bin': { link: '/etc/hostname' } },
      how: 'shard is a link out of the folder',
    }),
    () => ({ path: 'zero.bin', files: { 'zero.bin': { link: '/dev/zero' } }, how: 'shard is a link to /dev/zero' }),
    () => ({ path: 'sub', files: { sub: { dir: true } }, how: 'shard is a folder' }),
    () => ({ path: '.', files: {}, how: 'shard is the model folder' }),
    () => ({ path: 'missing.bin', files: {}, how: 'shard is missing' }),
    () => ({ path: pick(rng, [42, null, true, {}, ['a'], '']), files: {}, how: 'shard path is not a string' }),
    () => ({ path: 'a\u0000b.bin', files: {}, how: 'shard path with NUL' }),
  ];
  return pick(rng, attacks)();
}

/** Model-level attacks on a parsed model.json (in place). */
export function modelAttack(rng: Rng, json: Record<string, unknown>, chainLength = 30000): string {
  const topo = json.modelTopology as Record<string, unknown>;
  const cfg = ((topo.model_config ?? topo) as Record<string, unknown>).config as Record<string, unknown>;
  const layers = (Array.isArray(cfg) ? cfg : cfg.layers) as Record<string, unknown>[];
  const manifest = json.weightsManifest as { paths: unknown[]; weights: Record<string, unknown>[] }[];
  const confOf = (l: Record<string, unknown>) => l.config as Record<string, unknown>;
  const convs = layers.filter((l) => /Conv2D$/.test(String(l.class_name)));
  const attacks: (() => string)[] = [
    () => {
      const l = pick(rng, convs.length ? convs : layers);
      confOf(l).filters = pick(rng, [1e7, 2 ** 31, 1e15]);
      return 'huge filters';
    },
    () => {
      const first = layers[0];
      const c = confOf(first);
      const key = c.batch_input_shape ? 'batch_input_shape' : 'batch_shape';
      c[key] = [null, pick(rng, [1e6, 1e9, 0, -5]), pick(rng, [1e6, 1e9, 1]), pick(rng, [0, 3, 1e7])];
      return 'huge or zero input map';
    },
    () => {
      const l = pick(rng, layers);
      confOf(l)[pick(rng, ['strides', 'dilation_rate', 'kernel_size', 'pool_size', 'padding', 'size'])] = pick(rng, [
        INF,
        NINF,
        'x',
        [INF, 1],
        [1e9, 1e9],
        -3,
        0,
        2.5,
        [[1, 2], [3]],
        {},
      ]);
      return 'window field of the wrong type or range';
    },
    () => {
      if (!manifest?.[0]?.weights?.length) return 'no manifest';
      const w = pick(rng, manifest[0].weights);
      const field = pick(rng, ['name', 'shape', 'dtype', 'quantization']);
      w[field] =
        field === 'quantization'
          ? pick(rng, [
              { dtype: 'uint8' },
              { dtype: 'float16', scale: 1, min: 0 },
              { dtype: 'int4' },
              { dtype: 'uint8', scale: INF, min: 0 },
              'q',
            ])
          : pick(rng, [42, null, [1e7, 1e7], [INF], ['a'], 'int64', [-1]]);
      if (field === 'quantization' && rng.next() < 0.5) w.dtype = pick(rng, ['int32', 'bool', 'string']);
      return `weight ${field} mangled`;
    },
    () => {
      const l = pick(rng, layers);
      if (Array.isArray(l.inbound_nodes))
        l.inbound_nodes = pick(rng, [
          [[]],
          [],
          [[['nope', 0, 0, {}]]],
          [[[l.name ?? confOf(l).name, 0, 0, {}]]],
          [[[layers[0].name ?? 'x', 7, 3, {}]]],
          [[['x', INF, 0]]],
        ]);
      else confOf(l).name = pick(rng, [42, null, '']);
      return 'bad inbound nodes';
    },
    () => {
      if (Array.isArray(cfg)) return 'sequential';
      cfg.output_layers = pick(rng, [
        [],
        [['nope', 0, 0]],
        [[layers[0].name ?? 'x', 9, 0]],
        [[layers[layers.length - 1].name, 0, 5]],
        'x',
      ]);
      return 'bad output reference';
    },
    () => {
      const l = pick(rng, layers);
      const cls = pick(rng, ['Reshape', 'Permute', 'Flatten', 'Concatenate', 'Dense']);
      l.class_name = cls;
      const c = confOf(l);
      delete c.target_shape;
      delete c.dims;
      if (rng.next() < 0.5) c.axis = pick(rng, [INF, 99, 'x', 1e9]);
      if (rng.next() < 0.5) c.units = pick(rng, [1e7, 0, -1, INF]);
      return `layer turned into ${cls} without its target`;
    },
    () => {
      // A 30,000-layer chain: Functional models of Activation layers, each reading the one before.
      const n = chainLength;
      const base = layers[0];
      const chain: Record<string, unknown>[] = [base];
      let prev = String(base.name ?? confOf(base).name);
      for (let i = 0; i < n; i++) {
        const name = `act_${i}`;
        chain.push({
          class_name: 'Activation',
          name,
          config: { name, activation: 'linear' },
          inbound_nodes: [[[prev, 0, 0, {}]]],
        });
        prev = name;
      }
      (topo.model_config ? (topo.model_config as Record<string, unknown>) : topo).class_name = 'Model';
      const newCfg = {
        name: 'chain',
        layers: chain,
        input_layers: [[String(base.name ?? confOf(base).name), 0, 0]],
        output_layers: [[prev, 0, 0]],
      };
      if (topo.model_config) (topo.model_config as Record<string, unknown>).config = newCfg;
      else topo.config = newCfg;
      base.inbound_nodes = [];
      json.weightsManifest = [];
      return `${n}-layer chain`;
    },
    () => {
      // A cycle between two layers.
      if (Array.isArray(cfg) || layers.length < 3) return 'sequential';
      const a = layers[1];
      const b = layers[2];
      a.inbound_nodes = [[[b.name, 0, 0, {}]]];
      return 'cycle';
    },
  ];
  return pick(rng, attacks)();
}

// ---- ONNX messages --------------------------------------------------------------------------------------

/** Decodes, mutates fields of the message (or applies a targeted attack), re-encodes. */
export function mutateOnnx(rng: Rng, bytes: Buffer): { data: Buffer; how: string } {
  let m: ModelProto;
  try {
    m = decodeModel(bytes);
  } catch {
    return mutateBytes(rng, bytes);
  }
  const g = m.graph!;
  const nodes = g.node ?? [];
  const attacks: (() => string)[] = [
    () => {
      const n = pick(rng, nodes);
      (n.attribute ??= []).push({ name: pick(rng, ['value', 'pads', 'strides']), type: 4 });
      if (rng.next() < 0.5) n.opType = 'Constant';
      return 'TENSOR attribute without a tensor';
    },
    () => {
      const n =
        pick(rng, nodes.filter((x) => x.opType === 'Conv' || x.opType === 'MaxPool') as typeof nodes) ??
        pick(rng, nodes);
      const name = pick(rng, ['pads', 'strides', 'dilations', 'kernel_shape', 'group']);
      const attr = (n.attribute ??= []).find((a) => a.name === name) ?? { name, type: 7 };
      if (!n.attribute.includes(attr)) n.attribute.push(attr);
      if (rng.next() < 0.5) {
        attr.type = 7;
        attr.ints = [pick(rng, [2 ** 40, -(2 ** 40), 0, 1e9, -1]), 1, 1, 1];
      } else {
        attr.type = pick(rng, [1, 2, 3, 6]);
        attr.f = pick(rng, [NaN, Infinity, 1e30]);
        attr.i = pick(rng, [2 ** 40, -1, 0]);
      }
      return `attribute ${name} out of range or of the wrong type`;
    },
    () => {
      if (g.input?.length) g.input.push({ ...g.input[0] });
      return 'graph input listed twice';
    },
    () => {
      const t = pick(rng, g.initializer ?? []);
      if (t) t.dims = pick(rng, [[1e7, 1e7], [2 ** 40], [-1, 3], [0, 1e9], [3, 3, 3, 3, 3, 3, 3, 3, 3]]);
      return 'initializer with absurd dims';
    },
    () => {
      const n = pick(rng, nodes);
      if (n) {
        n.opType = pick(rng, [
          'Reshape',
          'Transpose',
          'Flatten',
          'Concat',
          'Gemm',
          'Resize',
          'Pad',
          'Clip',
          'Softmax',
          'PRelu',
          'BatchNormalization',
          'ConvTranspose',
        ]);
        n.input = (n.input ?? []).slice(0, 1);
        if (rng.next() < 0.5) n.attribute = [];
      }
      return 'node turned into another op without its inputs';
    },
    () => {
      const n = pick(rng, nodes);
      if (n) n.output = pick(rng, [[], [''], [g.input?.[0]?.name ?? 'x'], [nodes[0].output?.[0] ?? 'y']]);
      return 'node without or with a duplicate output';
    },
    () => {
      if (g.output?.length) g.output[0].name = pick(rng, ['nope', '', g.input?.[0]?.name ?? 'x']);
      return 'bad graph output';
    },
    () => {
      const n = pick(rng, nodes);
      if (n) n.domain = pick(rng, ['com.microsoft', 'custom.x']);
      return 'custom-domain node';
    },
    () => {
      const hows = mutateJsonValue(rng, m);
      return `fields: ${hows.join('; ')}`;
    },
  ];
  const how = pick(rng, attacks)();
  try {
    return { data: Buffer.from(encodeModel(m)), how };
  } catch {
    return mutateBytes(rng, bytes);
  }
}

// ---- YAML configs ---------------------------------------------------------------------------------------

export function mutateYaml(rng: Rng, text: string, value: Record<string, unknown>): { data: Buffer; how: string } {
  const attacks: (() => { data: string; how: string })[] = [
    () => ({ data: `model: *nope\ndata:\n  path: x\n`, how: 'unresolved alias (51 bytes)' }),
    () => ({ data: text.replace(/^model: .*$/m, 'model: *m'), how: 'alias without anchor' }),
    () => ({
      data: `a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`,
      how: 'alias bomb',
    }),
    () => {
      const d = pick(rng, [70, 2000, 20000]);
      return { data: `model: x\nexclude: ${'['.repeat(d)}${']'.repeat(d)}\n`, how: `flow nesting ${d}` };
    },
    () => {
      const d = pick(rng, [100, 1000]);
      return {
        data: Array.from({ length: d }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n',
        how: `block nesting ${d}`,
      };
    },
    () => ({ data: text.replace(/\n/g, pick(rng, ['\n\t', '\r', '\n---\n', '\n- '])), how: 'whitespace mangled' }),
    () => {
      const v = structuredClone(value);
      const hows = mutateJsonValue(rng, v);
      let data: string;
      try {
        data = yamlStringify(JSON.parse(toJsonText(v).replace(/NaN|-?1e999/g, '.nan')) as unknown);
      } catch {
        data = toJsonText(v);
      }
      return { data, how: `fields: ${hows.join('; ')}` };
    },
    () => {
      const m = mutateBytes(rng, Buffer.from(text));
      return { data: m.data.toString('latin1'), how: m.how };
    },
  ];
  const r = pick(rng, attacks)();
  return { data: Buffer.from(r.data), how: r.how };
}
