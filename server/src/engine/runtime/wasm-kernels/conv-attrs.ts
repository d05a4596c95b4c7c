/** Attributes shared by the convolution-gradient kernels (as the TF.js ops pass them). */
import * as tf from '@tensorflow/tfjs';

export interface ConvGradAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

export type Shape4 = [number, number, number, number];
