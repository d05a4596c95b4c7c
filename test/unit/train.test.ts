/**
 * Metrics, losses, the training loop (early stopping, checkpoint/resume, cancellation, memory) and evaluation,
 * on the pure-JS cpu backend with tiny models on a synthetic task whose answer is known: a pixel's class is
 * whether its intensity exceeds 0.5.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tf from '@tensorflow/tfjs';
import type { Dataset, DatasetInfo, Sample } from '../../server/src/engine/data/types';
import { CancelledError } from '../../server/src/engine/util/errors';
import { Rng } from '../../server/src/engine/util/rng';
import { argmaxRows, ConfusionMatrix, countLabels } from '../../server/src/engine/train/metrics';
import {
  crossEntropy,
  distillationLoss,
  medianFrequencyWeights,
  trainingLoss,
} from '../../server/src/engine/train/losses';
import { streamBatches } from '../../server/src/engine/train/batches';
import { evaluate } from '../../server/src/engine/train/evaluate';
import { train, type ProgressEvent } from '../../server/src/engine/train/trainer';
import { TerminalProgress } from '../../server/src/engine/cli/progress-bar';
import type { EpochRecord } from '../../server/src/engine/train/checkpoint';

const close = (a: number, b: number, tol = 1e-5, msg?: string) =>
  assert.ok(Math.abs(a - b) <= tol, msg ?? `${a} ≉ ${b}`);

// ---------------------------------------------------------------- fixtures

class MemoryDataset implements Dataset {
  gets = 0;
  constructor(
    readonly info: DatasetInfo,
    private readonly samples: Sample[],
  ) {}
  get size(): number {
    return this.samples.length;
  }
  async get(i: number): Promise<Sample> {
    this.gets++;
    return this.samples[i];
  }
}

const H = 8;
const W = 8;

/** Class 1 where intensity > 0.5; a few pixels carry `ignore` (255) to exercise masking. */
function thresholdDataset(n: number, seed: number, withIgnore = false): MemoryDataset {
  const rng = new Rng(seed);
  const samples: Sample[] = [];
  for (let s = 0; s < n; s++) {
    const image = new Float32Array(H * W);
    const label = new Int32Array(H * W);
    for (let i = 0; i < H * W; i++) {
      image[i] = rng.next();
      label[i] = image[i] > 0.5 ? 1 : 0;
      if (withIgnore && i % 17 === 0) label[i] = 255;
    }
    samples.push({ image, label });
  }
  const info: DatasetInfo = {
    name: 'threshold',
    task: 'segmentation',
    height: H,
    width: W,
    channels: 1,
    numClasses: 2,
    classNames: ['dark', 'bright'],
    synthetic: true,
    ...(withIgnore ? { ignoreIndex: 255 } : {}),
  };
  return new MemoryDataset(info, samples);
}

/** Two 1-2 conv layers, seeded so every run starts from the same weights. */
function tinySegModel(seed = 1): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      inputShape: [H, W, 1],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    }),
  );
  m.add(
    tf.layers.conv2d({
      filters: 2,
      kernelSize: 1,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  return m;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

before(async () => {
  await tf.setBackend('cpu');
});

// ---------------------------------------------------------------- metrics

describe('ConfusionMatrix', () => {
  test('counts, pixel accuracy, IoU, Dice and frequencies match a hand computation', () => {
    // 3 classes; label 9 is ignored. Pairs (label→pred):
    // 0→0, 0→0, 0→1, 1→1, 1→1, 1→0, 1→1, 9→2 (ignored), 2→2, 2→1
    const cm = new ConfusionMatrix(3, 9);
    cm.update(Int32Array.from([0, 0, 1, 1, 1, 0, 1, 2, 2, 1]), Int32Array.from([0, 0, 0, 1, 1, 1, 1, 9, 2, 2]));
    assert.deepEqual(cm.toRows(), [
      [2, 1, 0],
      [1, 3, 0],
      [0, 1, 1],
    ]);
    assert.equal(cm.total(), 9);
    close(cm.pixelAccuracy(), 6 / 9);
    // IoU_0 = 2/(3+3-2)=0.5, IoU_1 = 3/(4+5-3)=0.5, IoU_2 = 1/(2+1-1)=0.5
    assert.deepEqual(cm.perClassIoU(), [0.5, 0.5, 0.5]);
    close(cm.meanIoU(), 0.5);
    const dice = cm.perClassDice() as number[];
    close(dice[0], 4 / 6);
    close(dice[1], 6 / 9);
    close(dice[2], 2 / 3);
    close(cm.meanDice(), (4 / 6 + 6 / 9 + 2 / 3) / 3);
    assert.deepEqual(cm.classFrequencies(), [3 / 9, 4 / 9, 2 / 9]);
  });

  test('absent classes are null and left out of the means; prediction-only classes score 0', () => {
    const cm = new ConfusionMatrix(4);
    // Class 2 never appears anywhere; class 3 appears only as a (wrong) prediction.
    cm.update(Int32Array.from([0, 0, 1, 3]), Int32Array.from([0, 0, 1, 1]));
    const iou = cm.perClassIoU();
    assert.equal(iou[2], null);
    assert.deepEqual(iou, [1, 0.5, null, 0]);
    close(cm.meanIoU(), (1 + 0.5 + 0) / 3);
    assert.equal(cm.perClassDice()[2], null);
    assert.equal(new ConfusionMatrix(2).meanIoU(), 0, 'empty matrix');
  });

  test('merge equals one update over the concatenation; bad labels throw', () => {
    const a = new ConfusionMatrix(2, 255);
    const b = new ConfusionMatrix(2, 255);
    const all = new ConfusionMatrix(2, 255);
    a.update([0, 1, 1], [0, 0, 255]);
    b.update([1, 0], [1, 1]);
    all.update([0, 1, 1, 1, 0], [0, 0, 255, 1, 1]);
    assert.deepEqual(Array.from(a.merge(b).counts), Array.from(all.counts));
    assert.throws(() => a.update([0], [7]), /outside/);
    assert.throws(() => a.update([5], [0]), /prediction 5/);
    assert.throws(() => a.merge(new ConfusionMatrix(3)), /merge/);
  });

  test('top-1 for classification, argmax and label counts', () => {
    const scores = Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.2, 0.2, 0.6]);
    const pred = argmaxRows(scores, 3);
    assert.deepEqual(Array.from(pred), [1, 0, 2]);
    const cm = new ConfusionMatrix(3);
    cm.update(pred, Int32Array.from([1, 2, 2]));
    close(cm.top1(), 2 / 3);
    assert.deepEqual(countLabels([0, 2, 2, 255, 5], 3, 255), [1, 0, 2]);
  });
});

// ---------------------------------------------------------------- losses

describe('losses', () => {
  // Two pixels, three classes. p(true): pixel 0 → 0.7 (class 0), pixel 1 → 0.3 (class 2).
  const probs = () =>
    tf.tensor([
      [
        [
          [0.7, 0.2, 0.1],
          [0.5, 0.2, 0.3],
        ],
      ],
    ]);
  const labels = () => tf.tensor([[[0, 2]]], undefined, 'int32');
  const value = (t: tf.Tensor) => t.dataSync()[0];

  test('cross-entropy equals the hand computation; ignore index masks a pixel', () => {
    close(value(crossEntropy(probs(), labels())), -(Math.log(0.7) + Math.log(0.3)) / 2);
    const withIgnore = tf.tensor([[[0, 255]]], undefined, 'int32');
    close(value(crossEntropy(probs(), withIgnore, { ignoreIndex: 255 })), -Math.log(0.7));
    // An ignore index inside [0, C) also masks.
    close(value(crossEntropy(probs(), labels(), { ignoreIndex: 2 })), -Math.log(0.7));
    const allIgnored = tf.tensor([[[255, 255]]], undefined, 'int32');
    assert.equal(value(crossEntropy(probs(), allIgnored, { ignoreIndex: 255 })), 0);
  });

  test('class weights give a weighted mean; focal gamma down-weights confident pixels', () => {
    const w = [1, 1, 3];
    const l0 = -Math.log(0.7);
    const l1 = -Math.log(0.3);
    close(value(crossEntropy(probs(), labels(), { classWeights: w })), (1 * l0 + 3 * l1) / 4);
    // Focal γ=2: terms scaled by (1-p)²: 0.09 and 0.49.
    const focal = value(crossEntropy(probs(), labels(), { focalGamma: 2 }));
    close(focal, (0.09 * l0 + 0.49 * l1) / 2);
    assert.ok(focal < value(crossEntropy(probs(), labels())));
    assert.throws(() => crossEntropy(probs(), labels(), { classWeights: [1, 2] }), /classWeights/);
  });

  test('classification shape [N, C] works the same and the loss differentiates', () => {
    const p = tf.tensor([
      [0.7, 0.2, 0.1],
      [0.5, 0.2, 0.3],
    ]);
    const y = tf.tensor([0, 2], undefined, 'int32');
    close(value(crossEntropy(p, y)), -(Math.log(0.7) + Math.log(0.3)) / 2);
    const g = tf.grad((q: tf.Tensor) => crossEntropy(q, y))(p);
    // d/dp of −log p_true / 2 is −1/(2 p_true) at the true class, 0 elsewhere.
    const gv = g.dataSync();
    close(gv[0], -1 / (2 * 0.7));
    close(gv[5], -1 / (2 * 0.3));
    close(gv[1], 0);
  });

  test('distillation: KL at T=1 and T=2 with the T² factor, mixed by λ', () => {
    const s = [0.7, 0.2, 0.1];
    const t = [0.4, 0.4, 0.2];
    const soften = (p: number[], T: number) => {
      const e = p.map((x) => Math.pow(x, 1 / T));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / z);
    };
    const kl = (a: number[], b: number[]) => a.reduce((acc, ai, i) => acc + ai * Math.log(ai / b[i]), 0);
    const student = tf.tensor([s]);
    const teacher = tf.tensor([t]);
    close(value(distillationLoss(student, teacher, 1)), kl(t, s));
    close(value(distillationLoss(student, teacher, 2)), 4 * kl(soften(t, 2), soften(s, 2)));
    assert.equal(value(distillationLoss(teacher, teacher, 2)), 0);
    const y = tf.tensor([0], undefined, 'int32');
    const mixed = value(trainingLoss(student, y, { distillation: { temperature: 2, weight: 0.25 } }, teacher));
    close(mixed, 0.75 * -Math.log(0.7) + 0.25 * 4 * kl(soften(t, 2), soften(s, 2)));
    assert.throws(() => trainingLoss(student, y, { distillation: { temperature: 2, weight: 0.5 } }), /teacher/);
  });

  test('median-frequency weights', () => {
    // Frequencies over all pixels: 0.6, 0.3, 0.1 → median 0.3 → weights 0.5, 1, 3; absent class → 0.
    const w = medianFrequencyWeights([60, 30, 10, 0]);
    [0.5, 1, 3, 0].forEach((x, i) => close(w[i], x));
    // Presence-normalised: class 1 occurs in images totalling 50 pixels → f = 30/50.
    const wp = medianFrequencyWeights([60, 30, 10], [100, 50, 100]);
    [0.6 / 0.6, 0.6 / 0.6, 0.6 / 0.1].forEach((x, i) => close(wp[i], x));
  });
});

// ---------------------------------------------------------------- batches

test('batch stream: batch sizes, shuffling covers every index once, flips move image and mask together', async () => {
  const ds = thresholdDataset(10, 3);
  const seen: number[] = [];
  const sizes: number[] = [];
  for await (const b of streamBatches(ds, range(0, 10), { batchSize: 4, shuffle: new Rng(5) })) {
    sizes.push(b.n);
    // Identify each sample by its first pixel value.
    for (let k = 0; k < b.n; k++)
      seen.push(
        (await Promise.all(range(0, 10).map((i) => ds.get(i)))).findIndex((s) => s.image[0] === b.x[k * H * W]),
      );
  }
  assert.deepEqual(sizes, [4, 4, 2]);
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    range(0, 10),
  );
  assert.notDeepEqual(seen, range(0, 10), 'shuffled');

  const one = await ds.get(0);
  let flipped = 0;
  for await (const b of streamBatches(ds, [0, 0, 0, 0, 0, 0, 0, 0], {
    batchSize: 8,
    augment: { flipHorizontal: true },
    augmentRng: new Rng(9),
  })) {
    for (let k = 0; k < b.n; k++) {
      const isFlipped = b.x[k * H * W] === one.image[W - 1];
      if (isFlipped) flipped++;
      for (let r = 0; r < H; r++)
        for (let c = 0; c < W; c++) {
          const src = r * W + (isFlipped ? W - 1 - c : c);
          assert.equal(b.x[k * H * W + r * W + c], one.image[src]);
          assert.equal(b.y[k * H * W + r * W + c], one.label[src]);
        }
    }
  }
  assert.ok(flipped > 0 && flipped < 8, `some but not all flipped (${flipped})`);
  const bad = new MemoryDataset(ds.info, [{ image: one.image, label: Int32Array.from(one.label).fill(7) }]);
  await assert.rejects(async () => {
    for await (const _ of streamBatches(bad, [0], { batchSize: 1 })) void _;
  }, /label 7/);
});

// ---------------------------------------------------------------- training

describe('train', () => {
  const trainDs = thresholdDataset(48, 11, true);
  const valDs = thresholdDataset(16, 12, true);
  const base = {
    train: { dataset: trainDs, indices: range(0, 48) },
    val: { dataset: valDs, indices: range(0, 16) },
    batchSize: 8,
    seed: 7,
  };
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'prunelens-train-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('learns the threshold task (val mIoU rises), keeps tensor count flat, reports progress', async () => {
    const model = tinySegModel();
    const before = await evaluate(model, valDs, range(0, 16), { batchSize: 8 });
    const tensorsBefore = tf.memory().numTensors;
    const perEpoch: number[] = [];
    const events: ProgressEvent[] = [];
    const res = await train(model, {
      ...base,
      epochs: 6,
      learningRate: 0.05,
      augment: true,
      loss: { classWeights: 'median-frequency' },
      onProgress: (ev) => events.push(ev),
      onEpochEnd: () => perEpoch.push(tf.memory().numTensors),
    });
    const afterRep = await evaluate(model, valDs, range(0, 16), { batchSize: 8 });
    assert.ok(
      afterRep.meanIoU > before.meanIoU + 0.2,
      `mIoU ${before.meanIoU.toFixed(3)} → ${afterRep.meanIoU.toFixed(3)}`,
    );
    assert.ok(afterRep.meanIoU > 0.8, `final mIoU ${afterRep.meanIoU}`);
    // The model holds the best epoch's weights: evaluating it reproduces that epoch's validation metric.
    close(afterRep.meanIoU, res.history[res.bestEpoch - 1].meanIoU, 1e-9);
    // Epoch 1 creates the optimizer slots and the best-weights snapshot; after that nothing may accumulate.
    assert.equal(new Set(perEpoch.slice(1)).size, 1, `tensors per epoch ${perEpoch}`);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'optimizer and snapshot released after training');
    const trainEvents = events.filter((e) => e.phase === 'train' && e.epoch === 1);
    assert.deepEqual(
      trainEvents.map((e) => e.batch),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(
      events.every(
        (e) => e.batches === (e.phase === 'train' ? 6 : 2) && Number.isFinite(e.etaSeconds) && e.etaSeconds >= 0,
      ),
    );
    assert.ok(events.filter((e) => e.phase === 'val').every((e) => typeof e.metric === 'number'));
    assert.equal(events.at(-1)!.etaSeconds, 0);
    model.dispose();
  });

  test('early stopping stops after `patience` epochs without improvement and restores the best epoch', async () => {
    const model = tinySegModel(3);
    // A learning rate far too high for this net: validation loss bottoms out at epoch 2 and then rises.
    const res = await train(model, {
      ...base,
      epochs: 30,
      learningRate: 0.3,
      earlyStopping: { patience: 2, metric: 'loss' },
    });
    assert.ok(res.stoppedEarly, 'stopped early');
    assert.equal(res.epochsRun, res.bestEpoch + 2);
    const last = res.history.at(-1)!;
    assert.ok(last.valLoss > res.bestMetric, 'the last epoch was worse than the best');
    const rep = await evaluate(model, valDs, range(0, 16), { batchSize: 8, loss: { ignoreIndex: 255 } });
    close(rep.loss!, res.bestMetric, 1e-6, `restored weights give val loss ${rep.loss}, best was ${res.bestMetric}`);
    model.dispose();
  });

  test('checkpoint + resume continues from the saved epoch and matches an uninterrupted run', async () => {
    const opts = { ...base, learningRate: 0.05, augment: true };
    const straight = tinySegModel(5);
    const full = await train(straight, { ...opts, epochs: 4 });
    const ckpt = path.join(dir, 'ckpt');
    const first = tinySegModel(5);
    await train(first, { ...opts, epochs: 2, checkpointDir: ckpt });
    const state = JSON.parse(await readFile(path.join(ckpt, 'state.json'), 'utf8'));
    assert.equal(state.epoch, 2);
    assert.ok((await readdir(ckpt)).filter((e) => e.startsWith('epoch-')).length <= 2, 'stale epoch folders removed');

    const resumed = tinySegModel(99); // different initial weights: everything must come from the checkpoint
    const epochsSeen = new Set<number>();
    const res = await train(resumed, {
      ...opts,
      epochs: 4,
      checkpointDir: ckpt,
      resume: true,
      onProgress: (e) => epochsSeen.add(e.epoch),
    });
    assert.equal(res.resumedFrom, 2);
    assert.deepEqual([...epochsSeen], [3, 4]);
    assert.deepEqual(
      res.history.map((h) => h.epoch),
      [1, 2, 3, 4],
    );
    // Same shuffles, same Adam moments and step count: the resumed run ends where the straight run ends.
    assert.equal(res.bestEpoch, full.bestEpoch);
    res.history.forEach((h, i) => close(h.trainLoss, full.history[i].trainLoss, 1e-6, `epoch ${h.epoch} train loss`));
    const [a, b] = [await weightsOf(straight), await weightsOf(resumed)];
    a.forEach((w, i) => w.forEach((v, j) => close(v, b[i][j], 1e-6)));
    [straight, first, resumed].forEach((m) => m.dispose());
  });

  test('cancellation stops between batches with CancelledError and leaves the best weights', async () => {
    const model = tinySegModel(4);
    const ctrl = new AbortController();
    const records: EpochRecord[] = [];
    let afterAbort = 0;
    await assert.rejects(
      train(model, {
        ...base,
        epochs: 5,
        learningRate: 0.05,
        signal: ctrl.signal,
        onEpochEnd: (r) => records.push(r),
        onProgress: (e) => {
          if (ctrl.signal.aborted) afterAbort++;
          if (e.phase === 'train' && e.epoch === 2 && e.batch === 3) ctrl.abort();
        },
      }),
      CancelledError,
    );
    assert.equal(afterAbort, 0, 'no batch ran after the abort');
    assert.equal(records.length, 1);
    const rep = await evaluate(model, valDs, range(0, 16), { batchSize: 8 });
    close(rep.meanIoU, records[0].meanIoU, 1e-9);
    model.dispose();
  });

  test('distillation from a teacher trains and releases every tensor', async () => {
    const teacher = tinySegModel(8);
    const student = tinySegModel(9);
    const tensorsBefore = tf.memory().numTensors;
    const res = await train(student, {
      ...base,
      epochs: 2,
      learningRate: 0.05,
      teacher,
      loss: { distillation: { temperature: 2, weight: 0.5 }, focalGamma: 1 },
    });
    assert.equal(res.history.length, 2);
    assert.ok(res.history.every((h) => Number.isFinite(h.trainLoss)));
    assert.equal(tf.memory().numTensors, tensorsBefore);
    await assert.rejects(
      train(student, {
        ...base,
        epochs: 1,
        learningRate: 0.05,
        loss: { distillation: { temperature: 2, weight: 0.5 } },
      }),
      /teacher/,
    );
    teacher.dispose();
    student.dispose();
  });
});

// ---------------------------------------------------------------- evaluation and progress

test('evaluate and train on classification: report with top-1, JSON-serialisable, shape mismatch explained', async () => {
  const rng = new Rng(2);
  const samples: Sample[] = range(0, 12).map((i) => {
    const image = Float32Array.from({ length: 4 * 4 }, () => rng.next());
    return { image, label: Int32Array.of(i % 3) };
  });
  const info: DatasetInfo = {
    name: 'cls',
    task: 'classification',
    height: 4,
    width: 4,
    channels: 1,
    numClasses: 3,
    classNames: ['a', 'b', 'c'],
    synthetic: true,
  };
  const ds = new MemoryDataset(info, samples);
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [4, 4, 1] }),
      tf.layers.dense({
        units: 3,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
    ],
  });
  const rep = await evaluate(model, ds, range(0, 12), { batchSize: 5 });
  assert.equal(rep.numImages, 12);
  assert.equal(ds.gets, 12, 'each sample decoded once');
  // Recompute top-1 directly from a full forward pass.
  const x = tf.tensor4d(Float32Array.from(samples.flatMap((s) => Array.from(s.image))), [12, 4, 4, 1]);
  const pred = argmaxRows((model.predict(x) as tf.Tensor).dataSync(), 3);
  const correct = samples.filter((s, i) => pred[i] === s.label[0]).length;
  close(rep.top1!, correct / 12);
  assert.deepEqual(rep.classFrequencies, [1 / 3, 1 / 3, 1 / 3]);
  assert.deepEqual(JSON.parse(JSON.stringify(rep)), rep);
  assert.ok(rep.imagesPerSecond > 0);
  // Classification training path: [N] labels, top-1 as the watched metric.
  const res = await train(model, {
    train: { dataset: ds, indices: range(0, 8) },
    val: { dataset: ds, indices: range(8, 12) },
    epochs: 2,
    batchSize: 4,
    learningRate: 0.01,
  });
  assert.equal(res.metricName, 'top1');
  assert.ok(res.history.every((h) => h.top1 !== undefined && h.metric === h.top1));
  const wrong = tinySegModel();
  await assert.rejects(evaluate(wrong, ds, [0]), /does not match/);
  model.dispose();
  wrong.dispose();
});

test('progress: one line per epoch when not a TTY, a live bar on a TTY', () => {
  const record: EpochRecord = {
    epoch: 1,
    trainLoss: 0.5,
    valLoss: 0.4,
    pixelAccuracy: 0.9,
    meanIoU: 0.8,
    metric: 0.8,
    seconds: 1.5,
  };
  const ev: ProgressEvent = { phase: 'train', epoch: 1, epochs: 2, batch: 1, batches: 4, loss: 0.5, etaSeconds: 75 };
  const capture = (tty: boolean) => {
    const stream = Object.assign(new PassThrough(), { isTTY: tty, columns: 120 });
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    const p = new TerminalProgress({ stream, metricName: 'miou' });
    for (const epoch of [1, 2]) {
      for (let b = 1; b <= 4; b++) p.onProgress({ ...ev, epoch, batch: b });
      p.onEpochEnd({ ...record, epoch }, { epoch: 1, metric: 0.8 });
    }
    p.stop();
    return text;
  };
  const plain = capture(false);
  assert.deepEqual(plain.trim().split('\n').length, 2);
  assert.match(plain, /^epoch 1\/2 .*mIoU 0\.8000.*best mIoU 0\.8000 @ epoch 1/m);
  const live = capture(true);
  assert.match(live, /train epoch 1\/2 \|.*\| 1\/4 +loss 0\.5000 .*ETA 1m15s/);
  assert.match(live, /epoch 2\/2 .*train loss 0\.5000/);
});
