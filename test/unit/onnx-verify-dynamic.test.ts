/**
 * The write path's validity check (output/verify.ts) runs a written ONNX model once on zeros. With dynamic H and
 * W it tries 64×64 and, where the network needs a larger image (Inception-v3's stem needs 75), 224×224 before
 * it refuses the file: a valid model with dynamic spatial dimensions is never refused for the probe's size.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ints, OnnxBuilder, valueInfo } from '../../server/src/engine/formats/onnx/builder';
import { DataType } from '../../server/src/engine/formats/onnx/proto';
import { loadInOnnxRuntime } from '../../server/src/engine/output/verify';

/** One valid convolution with a k×k kernel on a 1-channel image of dynamic size: runs on images ≥ k. */
function bigKernel(k: number): Uint8Array {
  const b = new OnnxBuilder();
  const dyn = (s: string) => ({ dimParam: s });
  b.inputs.push(valueInfo('image', DataType.FLOAT, [dyn('batch'), { dimValue: 1 }, dyn('height'), dyn('width')]));
  const w = b.float('w', [2, 1, k, k], new Float32Array(2 * k * k).fill(0.01));
  b.node('Conv', ['image', w], { kernel_shape: ints([k, k]) }, 'y');
  b.outputs.push(valueInfo('y', DataType.FLOAT, [dyn('batch'), { dimValue: 2 }, dyn('h'), dyn('w')]));
  return b.encode('big_kernel');
}

test('dynamic H and W: a model too large for the 64×64 probe is run at 224×224; one that fails at both is refused', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-verify-'));
  try {
    const fits = path.join(dir, 'k75.onnx');
    await fs.writeFile(fits, bigKernel(75));
    assert.deepEqual(await loadInOnnxRuntime(fits), []);
    const never = path.join(dir, 'k240.onnx');
    await fs.writeFile(never, bigKernel(240));
    await assert.rejects(loadInOnnxRuntime(never));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
