/**
 * The statistics pass on onnxruntime-node: it is inference only (no gradients), and the native runtime ran
 * it 1.6–2.9× faster than TF.js on wasm (docs/RESULTS.md), so inference-heavy work runs there.
 *
 * The model is translated to ONNX and, for every observed feature map X [B, C, H, W], reduction nodes are
 * appended as extra graph outputs, so only small tensors cross into JavaScript:
 *   - per image and channel the spatial mean M [B, C];
 *   - the C×C Gram matrix of the per-image-centred map, Σ_b D_b D_bᵀ via MatMul (the raw Gram is recovered
 *     in float64 as that plus Σ_b HW·m_b m_bᵀ, exact algebra, so no mean shift is needed as on TF.js; the
 *     between-image term is itself one small in-graph MatMul, see `accumulate`); the diagonal of each
 *     image's D_b D_bᵀ is that image's centred sum of squares Σ(X − M)², MSD's per-image std without a pass
 *     of its own and without the E[x²] − E[x]² cancellation of a one-pass formula (on deep, small maps,
 *     C ≥ H·W, the Gram matrix is one product over the batch and the sums of squares one ReduceSumSquare);
 *   - only when asked (issue 18: collect what the method and criteria need, nothing more): per-channel
 *     counts of non-positive activations (APoZ), for segmentation the C×K class response X·onehot via
 *     MatMul with the resampled label mask as an input (the explanation), and the full map of the first
 *     `hrankImages` images (HRank).
 * The accumulators are the same `LayerAccumulator`s the TF.js pass fills, so both paths finish into
 * identical `LayerStats`. The statistics session is kept between passes over the same model and outputs
 * (`statsSessions`, stats/session-cache.ts), so a second analysis pays neither its set-up nor its first run.
 */
import type { Dataset, DatasetInfo } from '../data/types';
import { BATCH_SIZE_DEFAULTS } from '../config/definition';
import { createSession, floatTensor, loadOrt } from '../runtime/onnx-session';
import { buildOnnx } from '../formats/onnx/writer';
import { dims, int, ints, valueInfo, type OnnxBuilder } from '../formats/onnx/builder';
import { DataType, type NodeProto } from '../formats/onnx/proto';
import type { ModelGraph } from '../graph/ir';
import { CancelledError } from '../util/errors';
import { LayerAccumulator } from './accumulate';
import { StatsSessionCache } from './session-cache';
import type { ObservationPoint } from './observe';
import { labelRows, loadBatch, type StatsOptions, type StatsResult } from './pass';

export interface NativeStatsOptions extends StatsOptions {
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /**
   * Borrow the statistics session kept from an earlier pass over the same model and outputs, and keep it for
   * the next (default true). False: build and release a session of this pass's own.
   */
  reuseSession?: boolean;
}

export interface NativeStatsResult extends StatsResult {
  runtime: 'onnxruntime';
  /** Of `seconds`: building the statistics model and creating its session (nearly 0 when it was reused). */
  setupSeconds: number;
  /** The session was kept from an earlier pass over the same model and outputs (already warm). */
  sessionReused: boolean;
}

/** A statistics session and how to read its outputs. */
interface StatsSession {
  session: import('onnxruntime-node').InferenceSession;
  outputs: PointOutputs[];
  labelInputs: Map<string, [number, number]>;
}

/**
 * Statistics sessions kept for the next pass over the same model (another method or τ, a re-run from the
 * editor). Two: a method's pass and the explanation's, say; each is released when pushed out, or by
 * `releaseStatsSessions()`.
 */
export const statsSessions = new StatsSessionCache<StatsSession>(2);

/** Releases every kept statistics session (those in use go when their pass ends). */
export function releaseStatsSessions(): Promise<void> {
  return statsSessions.clear();
}

interface PointOutputs {
  /**
   * The map's [C, H, W] when the model fixes them (its image count is read from the mean's length); otherwise
   * the name of a Shape output giving [B, C, H, W] per batch (a Dense output's H is the batch).
   */
  shape: [number, number, number] | string;
  mean: string;
  sumSq: string;
  /** Σ_b D_b D_bᵀ of the per-image-centred maps. */
  gram: string;
  /** m̄ [1, C], the mean of the batch's image means, and Σ_b (m_b − m̄)(m_b − m̄)ᵀ [C, C]. */
  batchMean: string;
  between: string;
  nonPositive?: string;
  map?: string;
  classes?: string;
  /** A Dense output [B, C], read as one [1, C, B, 1] map as the TF.js pass reads it as [1, B, 1, C]. */
  dense: boolean;
}

/** What the statistics model computes beyond the mean, the Gram matrix and MSD. */
export interface StatsModelParts {
  apoz: boolean;
  /** The full map as an output (read for HRank on the first images only). */
  maps: boolean;
}

/** The ONNX model with reduction outputs, and what each output is. `info` non-null: class responses. */
export function buildStatsModel(
  graph: ModelGraph,
  points: ObservationPoint[],
  info: DatasetInfo | null,
  parts: StatsModelParts = { apoz: true, maps: true },
): { bytes: Uint8Array; outputs: PointOutputs[]; labelInputs: Map<string, [number, number]> } {
  const build = buildOnnx(graph);
  const { b, lay } = build;
  const modelOutputs = b.outputs.length;
  const labelInputs = new Map<string, [number, number]>();
  const segClasses = info !== null && info.task === 'segmentation' && info.numClasses > 0;
  const out = (v: string): string => {
    b.outputs.push(valueInfo(v, DataType.FLOAT, null));
    return v;
  };
  const outputs = points.map((p, i) => {
    const key = `${p.observed}:0:0`;
    const v = build.values.get(key);
    if (!v) throw new Error(`observed layer '${p.observed}' has no ONNX value`);
    const tag = `stats${i}`;
    let x: string;
    const dense = v.rank === 2;
    if (dense) {
      const t = b.node('Transpose', [v.name], { perm: ints([1, 0]) }, `${tag}/transpose`);
      x = b.node('Unsqueeze', [t, b.int64([0, 3])], {}, `${tag}/map`);
    } else {
      if (v.rank !== 4)
        throw new Error(`observed layer '${p.observed}' has rank ${v.rank}; the pass reads 2-D and 4-D outputs`);
      x = lay.cf(v).name;
    }
    const fixed = build.shapes.get(key);
    let shape: PointOutputs['shape'];
    if (!dense && fixed?.length === 4 && fixed.slice(1).every((n) => typeof n === 'number' && n > 0)) {
      // Known sizes need no Shape output: one output (and one tiny onnxruntime node) fewer per map and batch.
      shape = [fixed[3]!, fixed[1]!, fixed[2]!];
    } else {
      shape = b.node('Shape', [x], {}, `${tag}/shape`);
      b.outputs.push(valueInfo(shape, DataType.INT64, null));
    }
    const m = b.node('ReduceMean', [x], { axes: ints([2, 3]), keepdims: int(1) }, `${tag}/mean4`);
    const d = b.node('Sub', [x, m], {}, `${tag}/centred`);
    const meanBc = b.node('Squeeze', [m, b.int64([2, 3])], {}, `${tag}/mean`);
    const mean = out(meanBc);
    // The images' own means enter the raw Gram matrix as Σ_b HW·m_b m_bᵀ. Centred on the batch's mean m̄
    // (Σ_b (m_b − m̄)(m_b − m̄)ᵀ, small terms, no cancellation), that is one C×C MatMul here instead of
    // B·C² float64 products in JavaScript, which shares the two cores with onnxruntime's threads; JavaScript
    // adds back only the rank-1 B·m̄ m̄ᵀ, exactly, once per batch.
    const batchMean = out(b.node('ReduceMean', [meanBc], { axes: ints([0]), keepdims: int(1) }, `${tag}/batch_mean`));
    const dm = b.node('Sub', [meanBc, batchMean], {}, `${tag}/mean_dev`);
    const dmT = b.node('Transpose', [dm], { perm: ints([1, 0]) }, `${tag}/mean_devT`);
    const between = out(b.node('MatMul', [dmT, dm], {}, `${tag}/between`));
    const shp = build.shapes.get(key);
    const c = shp?.[shp.length - 1];
    const pixels = !dense && typeof shp?.[1] === 'number' && typeof shp?.[2] === 'number' ? shp[1] * shp[2] : null;
    let gram: string;
    let sumSq: string;
    if (typeof c === 'number' && c > 0 && pixels !== null && c >= pixels) {
      // Deep, small maps (C ≥ H·W: the bottleneck of a wide U-Net, 1024 channels on 8×8): per-image Gram
      // matrices would write B·C² floats — more than the map — only to sum them. One product over the whole
      // batch instead ([C, B·HW] by its transpose, after copying the small map to channels-first), and
      // each image's Σ(x − m)² from one ReduceSumSquare over it.
      const cols = b.node('Transpose', [d], { perm: ints([1, 0, 2, 3]) }, `${tag}/channels_first`);
      const rows = b.node('Reshape', [cols, b.int64([c, -1])], {}, `${tag}/rows`);
      const rowsT = b.node('Transpose', [rows], { perm: ints([1, 0]) }, `${tag}/rowsT`);
      gram = out(b.node('MatMul', [rows, rowsT], {}, `${tag}/gram`));
      sumSq = out(b.node('ReduceSumSquare', [d], { axes: ints([2, 3]), keepdims: int(0) }, `${tag}/sumsq`));
    } else {
      const rows = b.node('Reshape', [d, b.int64([0, 0, -1])], {}, `${tag}/rows`);
      // onnxruntime fuses this Transpose into the MatMul (MatMulTransposeFusion): no copy of the map.
      const rowsT = b.node('Transpose', [rows], { perm: ints([0, 2, 1]) }, `${tag}/rowsT`);
      const g = b.node('MatMul', [rows, rowsT], {}, `${tag}/gram_b`);
      gram = out(b.node('ReduceSum', [g, b.int64([0])], { keepdims: int(0) }, `${tag}/gram`));
      // Each image's Σ(x − m)² per channel is the diagonal of its centred Gram: every (C+1)-th entry of the
      // flattened [B, C·C] matrix, read without another pass over the map (channels are static here; a
      // ReduceSumSquare pass is the fallback when they are not).
      if (typeof c === 'number' && c > 0) {
        const flat = b.node('Reshape', [g, b.int64([0, -1])], {}, `${tag}/gram_flat`);
        sumSq = out(
          b.node('Slice', [flat, b.int64([0]), b.int64([c * c]), b.int64([1]), b.int64([c + 1])], {}, `${tag}/sumsq`),
        );
      } else {
        sumSq = out(b.node('ReduceSumSquare', [d], { axes: ints([2, 3]), keepdims: int(0) }, `${tag}/sumsq`));
      }
    }
    let nonPositive: string | undefined;
    if (parts.apoz) {
      const le = b.node('LessOrEqual', [x, b.floats(`${tag}/zero`, [0], [])], {}, `${tag}/le0`);
      const cast = b.node('Cast', [le], { to: int(DataType.FLOAT) }, `${tag}/le0f`);
      nonPositive = out(b.node('ReduceSum', [cast, b.int64([0, 2, 3])], { keepdims: int(0) }, `${tag}/nonpos`));
    }
    const map = parts.maps ? out(b.node('Identity', [x], {}, `${tag}/fullmap`)) : undefined;
    let classes: string | undefined;
    const h = shp?.[1];
    const w = shp?.[2];
    if (segClasses && !dense && typeof h === 'number' && typeof w === 'number' && h * w > 1) {
      // One label input per map size, shared by every map of that size.
      let labelName = [...labelInputs].find(([, s]) => s[0] === h && s[1] === w)?.[0];
      if (!labelName) {
        labelName = b.unique(`labels_${h}x${w}`);
        labelInputs.set(labelName, [h, w]);
        b.inputs.push(
          valueInfo(
            labelName,
            DataType.FLOAT,
            dims([null, h * w, info.numClasses], () => 'batch'),
          ),
        );
      }
      const raw = b.node('Reshape', [x, b.int64([0, 0, -1])], {}, `${tag}/raw_rows`);
      const r = b.node('MatMul', [raw, labelName], {}, `${tag}/class_b`);
      classes = out(b.node('ReduceSum', [r, b.int64([0])], { keepdims: int(0) }, `${tag}/classes`));
    }
    return { shape, mean, sumSq, gram, batchMean, between, nonPositive, map, classes, dense };
  });
  // The statistics are the only outputs: the model's own head past the last observed map (a segmentation
  // network's class convolution, Softmax and NHWC transpose) is not computed.
  b.outputs.splice(0, modelOutputs);
  keepOnlyWhatOutputsNeed(b);
  return { bytes: b.encode(graph.name), outputs, labelInputs };
}

/** Drops every node, and initializer, that no graph output depends on (nodes are in topological order). */
export function keepOnlyWhatOutputsNeed(b: OnnxBuilder): void {
  const needed = new Set(b.outputs.map((o) => o.name));
  const kept: NodeProto[] = [];
  for (let i = b.nodes.length - 1; i >= 0; i--) {
    const n = b.nodes[i];
    if (!(n.output ?? []).some((o) => needed.has(o))) continue;
    kept.push(n);
    for (const x of n.input ?? []) if (x) needed.add(x);
  }
  b.nodes.splice(0, b.nodes.length, ...kept.reverse());
  const initializers = b.initializers.filter((t) => t.name !== undefined && needed.has(t.name));
  b.initializers.splice(0, b.initializers.length, ...initializers);
}

export async function runNativeStatsPass(
  graph: ModelGraph,
  points: ObservationPoint[],
  dataset: Dataset,
  indices: number[],
  opts: NativeStatsOptions = {},
): Promise<NativeStatsResult> {
  const started = Date.now();
  const ort = loadOrt();
  if (!ort) throw new Error('onnxruntime-node is not available');
  const batchSize = opts.batchSize ?? BATCH_SIZE_DEFAULTS.statistics;
  const hrankImages = opts.hrankImages ?? 4;
  const info = dataset.info;
  const withClasses = opts.classResponse !== false && info.numClasses > 0;
  const withApoz = opts.apoz !== false;
  const parts = { apoz: withApoz, maps: hrankImages > 0 };
  const classInfo = withClasses ? info : null;
  const open = async (): Promise<StatsSession> => {
    const model = buildStatsModel(graph, points, classInfo, parts);
    // No spin-waiting between runs: the JavaScript thread folds each batch in while the next one runs, and on
    // a two-core machine a spinning onnxruntime thread would take the core it needs.
    const session = await createSession(model.bytes, { threads: opts.threads, spin: false });
    return { session, outputs: model.outputs, labelInputs: model.labelInputs };
  };
  if (opts.reuseSession === false) {
    const held = await open();
    try {
      return await passOver(held, false);
    } finally {
      await held.session.release();
    }
  }
  const key = JSON.stringify({
    points: points.map((p) => [p.producer, p.observed]),
    classes: classInfo && [classInfo.task, classInfo.numClasses, classInfo.height, classInfo.width],
    parts,
    threads: opts.threads ?? null,
  });
  return statsSessions.with(graph, key, open, (held, created) => passOver(held, !created));

  async function passOver(held: StatsSession, reused: boolean): Promise<NativeStatsResult> {
    const { session, outputs: modelOutputs, labelInputs } = held;
    const model = { outputs: modelOutputs, labelInputs };
    const setupSeconds = (Date.now() - started) / 1000;
    const accs: LayerAccumulator[] = [];
    const { height: H, width: W, channels: C } = info;
    // The next batch is read and its label rows built while onnxruntime runs the current one (its run is
    // asynchronous, on its own threads), so JavaScript-side work stays off the critical path.
    const prepare = async (start: number) => {
      const batchIdx = indices.slice(start, start + batchSize);
      const { x, y } = await loadBatch(dataset, batchIdx);
      const b = batchIdx.length;
      // One set of label rows (and class counts) per map size and batch, shared by every map of that size.
      const byMapSize = new Map<string, ReturnType<typeof labelRows>>();
      const labels = (h: number, w: number): ReturnType<typeof labelRows> => {
        const k = `${h}x${w}`;
        let l = byMapSize.get(k);
        if (!l) byMapSize.set(k, (l = labelRows(y, info, b, h, w)));
        return l;
      };
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {
        [session.inputNames[0]]: floatTensor(x, [b, H, W, C]),
      };
      for (const [name, [h, w]] of model.labelInputs)
        feeds[name] = floatTensor(labels(h, w).rows, [b, h * w, info.numClasses]);
      return { b, feeds, labels };
    };
    // Full maps (HRank) are fetched for the first `hrankImages` images of each point; counted when a batch is
    // submitted, since batch k + 1 is submitted before batch k is folded in.
    const rankPlanned = model.outputs.map(() => 0);
    const submit = async (start: number) => {
      const { b, feeds, labels } = await pending!;
      const withMap = model.outputs.map((o, i) => !!o.map && rankPlanned[i] < hrankImages && !(o.dense && b !== 1));
      withMap.forEach((w, i) => w && (rankPlanned[i] += Math.min(b, hrankImages - rankPlanned[i])));
      const fetch = model.outputs.flatMap((o, i) => [
        ...(typeof o.shape === 'string' ? [o.shape] : []),
        o.mean,
        o.sumSq,
        o.gram,
        o.batchMean,
        o.between,
        ...(o.nonPositive ? [o.nonPositive] : []),
        ...(o.classes ? [o.classes] : []),
        ...(withMap[i] ? [o.map!] : []),
      ]);
      const running = session.run(feeds, fetch);
      pending = start + batchSize < indices.length ? prepare(start + batchSize) : null;
      // Both are awaited later (the run after the previous batch is folded in, the prefetch by the next submit);
      // marked handled now so that a failure in between is not an unhandled rejection. Awaiting still throws.
      running.catch(() => undefined);
      pending?.catch(() => undefined);
      return { start, b, withMap, running, labels };
    };
    const fold = (
      batch: { b: number; withMap: boolean[]; labels: (h: number, w: number) => ReturnType<typeof labelRows> },
      res: import('onnxruntime-node').InferenceSession.OnnxValueMapType,
    ): void => {
      const { b } = batch;
      model.outputs.forEach((o, i) => {
        const [bb, c, h, w] =
          typeof o.shape === 'string'
            ? Array.from(res[o.shape].data as BigInt64Array, Number)
            : [res[o.mean].data.length / o.shape[0], ...o.shape];
        const acc = (accs[i] ??= new LayerAccumulator(
          points[i].producer,
          points[i].observed,
          c,
          withClasses ? info.numClasses : 0,
          withApoz,
        ));
        // Keep the TF.js pass's reading of a Dense output: height = batch, width = 1.
        acc.height = h;
        acc.width = w;
        accumulate(
          acc,
          {
            mean: res[o.mean].data as Float32Array,
            sumSq: res[o.sumSq].data as Float32Array,
            gram: res[o.gram].data as Float32Array,
            batchMean: res[o.batchMean].data as Float32Array,
            between: res[o.between].data as Float32Array,
          },
          bb,
          c,
          h * w,
        );
        if (o.nonPositive) acc.addInto(acc.nonPositive!, res[o.nonPositive].data as Float32Array);
        const isDense = o.dense && b !== 1;
        if (withClasses && !isDense) {
          const { rows, counts } = batch.labels(
            info.task === 'classification' ? 1 : h,
            info.task === 'classification' ? 1 : w,
          );
          if (o.classes) acc.addInto(acc.classSum!, res[o.classes].data as Float32Array);
          else addClassResponse(acc.classSum!, res[o.mean].data as Float32Array, rows, bb, c, info.numClasses);
          acc.addInto(acc.classCount!, counts);
        }
        if (batch.withMap[i]) {
          const map = res[o.map!].data as Float32Array;
          const n = Math.min(bb, hrankImages - acc.rankImages);
          for (let k = 0; k < n; k++) acc.addRanks(toHwc(map, k, c, h, w), h, w);
        }
      });
    };
    let pending = indices.length > 0 ? prepare(0) : null;
    pending?.catch(() => undefined);
    let inFlight: Awaited<ReturnType<typeof submit>> | null = null;
    try {
      inFlight = indices.length > 0 ? await submit(0) : null;
      while (inFlight) {
        const done = inFlight;
        const res = await done.running;
        if (opts.signal?.aborted) throw new CancelledError();
        // Batch k + 1 starts before batch k is folded in: onnxruntime never waits on JavaScript.
        inFlight = null;
        inFlight = done.start + batchSize < indices.length ? await submit(done.start + batchSize) : null;
        fold(done, res);
        opts.onProgress?.(Math.min(done.start + done.b, indices.length), indices.length);
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      // A run or prefetch still in flight when the pass stops (cancel, error) must finish before the session is
      // released, and must not reject unobserved.
      await inFlight?.running.catch(() => undefined);
      await pending?.catch(() => undefined);
    }
    const seconds = (Date.now() - started) / 1000;
    return {
      runtime: 'onnxruntime',
      layers: new Map(accs.map((a) => [a.producer, a.finish()])),
      images: indices.length,
      dataset: info,
      seconds,
      setupSeconds,
      sessionReused: reused,
      imagesPerSecond: indices.length / Math.max(seconds, 1e-9),
    };
  }
}

/** One batch's reductions of one map, as the statistics model returns them. */
export interface BatchReductions {
  mean: Float32Array;
  sumSq: Float32Array;
  gram: Float32Array;
  batchMean: Float32Array;
  between: Float32Array;
}

/**
 * Folds one batch's reductions into the float64 accumulators: O(B·C + C²) per map, so that JavaScript keeps
 * up with onnxruntime on the same cores. The raw Gram matrix Σ over pixels of x xᵀ is, per image,
 * D_b D_bᵀ + HW·m_b m_bᵀ, and over the batch Σ_b HW·m_b m_bᵀ = HW·(Σ_b (m_b − a)(m_b − a)ᵀ + B·(a m̄ᵀ + m̄ aᵀ − a aᵀ))
 * for any a — here the model's float32 batch mean a, with m̄ the exact float64 mean of the image means, so
 * the identity holds whatever a's rounding.
 */
export function accumulate(acc: LayerAccumulator, r: BatchReductions, b: number, c: number, hw: number): void {
  const total = new Float64Array(c);
  for (let i = 0; i < b; i++) {
    for (let p = 0; p < c; p++) {
      total[p] += r.mean[i * c + p];
      acc.stdSum[p] += Math.sqrt(Math.max(r.sumSq[i * c + p], 0) / hw);
    }
  }
  const a = r.batchMean;
  const exact = total.map((t) => t / b);
  for (let p = 0; p < c; p++) {
    acc.sum[p] += total[p] * hw;
    const ap = a[p];
    const mp = exact[p];
    const row = p * c;
    for (let q = 0; q < c; q++)
      acc.gram[row + q] += r.gram[row + q] + hw * (r.between[row + q] + b * (ap * exact[q] + mp * a[q] - ap * a[q]));
  }
  acc.images += b;
  acc.pixels += b * hw;
}

/** Classification (or 1×1 maps): class response from the per-image channel means. */
function addClassResponse(
  target: Float64Array,
  mean: Float32Array,
  rows: Float32Array,
  b: number,
  c: number,
  k: number,
): void {
  for (let i = 0; i < b; i++)
    for (let p = 0; p < c; p++) for (let q = 0; q < k; q++) target[p * k + q] += mean[i * c + p] * rows[i * k + q];
}

/** Image `k` of an NCHW batch as an HWC array (what `addRanks` reads). */
function toHwc(map: Float32Array, k: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * c);
  const base = k * c * h * w;
  for (let p = 0; p < c; p++) for (let s = 0; s < h * w; s++) out[s * c + p] = map[base + p * h * w + s];
  return out;
}
