/**
 * Gradient of ResizeNearestNeighbor (UpSampling2D 'nearest' in U-Net and SegNet decoders).
 *
 * tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad returns wrong values (measured 0.12–0.38 off an exact
 * reference on 4×4, 4×5 and 3×3 inputs upsampled ×2; the wasm kernel is exact), so training on the cpu fallback
 * would silently corrupt every decoder below an upsampling. For the case UpSampling2D produces — integer factors,
 * no alignCorners, no halfPixelCenters — output pixel (i, j) copies input (⌊i/fh⌋, ⌊j/fw⌋), so the gradient is the
 * sum of dy over each fh×fw block: a reshape and a sum, exact on every backend. Other cases keep the kernel.
 */
import * as tf from '@tensorflow/tfjs';

interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
  size: [number, number];
}

function nearestGrad(
  dy: tf.Tensor | tf.Tensor[],
  saved: tf.Tensor[],
  rawAttrs: tf.NamedAttrMap,
): Record<string, () => tf.Tensor> {
  const [images] = saved as [tf.Tensor4D];
  const g = dy as tf.Tensor4D;
  const attrs = rawAttrs as unknown as ResizeAttrs;
  const [b, h, w, c] = images.shape;
  const [oh, ow] = [g.shape[1], g.shape[2]];
  const blocks = !attrs.alignCorners && !attrs.halfPixelCenters && oh % h === 0 && ow % w === 0;
  if (!blocks) {
    return {
      images: () => tf.engine().runKernel('ResizeNearestNeighborGrad', { images, dy: g }, rawAttrs) as tf.Tensor,
    };
  }
  return { images: () => tf.sum(tf.reshape(g, [b, h, oh / h, w, ow / w, c]), [2, 4]) };
}

let installed = false;

/** Installs the gradient above. Idempotent; affects every backend. */
export function installResizeGradients(): void {
  if (installed) return;
  tf.registerGradient({ kernelName: 'ResizeNearestNeighbor', inputsToSave: ['images'], gradFunc: nearestGrad });
  installed = true;
}
