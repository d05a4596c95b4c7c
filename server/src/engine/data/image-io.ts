/**
 * Image and mask decoding (pngjs, jpeg-js) and the pixel operations every reader shares: resize
 * (bilinear for images, nearest for label maps), channel conversion and normalisation.
 */
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { extname } from 'node:path';
import { DatasetError } from './errors';
import type { ReadOptions } from './types';

/** 8-bit pixels, interleaved, alpha dropped. */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** A decoded mask: either one index per pixel (grey or palette PNG) or an RGB triple per pixel. */
export type RawMask =
  | { kind: 'index'; width: number; height: number; data: Uint16Array }
  | { kind: 'rgb'; width: number; height: number; data: Uint8Array };

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** pngjs's sync reader also returns the PLTE entries, which its typings leave out. */
type PngRead = ReturnType<typeof PNG.sync.read> & { palette?: number[][] | boolean };

function readPng(buf: Buffer, file: string, skipRescale: boolean): PngRead {
  try {
    return PNG.sync.read(buf, { skipRescale }) as PngRead;
  } catch (e) {
    throw new DatasetError(`not a readable PNG (${(e as Error).message})`, file);
  }
}

/** Decode a PNG or JPEG image to 8-bit grey or RGB. */
export function decodeImage(buf: Buffer, file: string): RawImage {
  const ext = extname(file).toLowerCase();
  if (ext === '.png') {
    const png = readPng(buf, file, false);
    // colorType 0/4 (grey, grey+alpha) has no colour; pngjs still expands it to RGBA.
    const grey = !png.color;
    return fromRgba(png.data, png.width, png.height, grey ? 1 : 3);
  }
  if (ext === '.jpg' || ext === '.jpeg') {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true });
    } catch (e) {
      throw new DatasetError(`not a readable JPEG (${String((e as Error).message ?? e)})`, file);
    }
    return fromRgba(img.data, img.width, img.height, 3);
  }
  throw new DatasetError('unsupported image type (expected .png, .jpg or .jpeg)', file);
}

function fromRgba(rgba: ArrayLike<number>, width: number, height: number, channels: 1 | 3): RawImage {
  const n = width * height;
  const data = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < channels; c++) data[p * channels + c] = rgba[p * 4 + c];
  }
  return { width, height, channels, data };
}

/**
 * Decode a mask PNG. Palette PNGs give their palette indices (pngjs expands them to colours, so the colours
 * are mapped back through the PLTE chunk; the first entry wins for repeated colours, which padded palettes
 * only repeat for unused trailing entries). Grey PNGs give their grey value (16-bit kept unscaled).
 */
export function decodeMask(buf: Buffer, file: string): RawMask {
  if (extname(file).toLowerCase() !== '.png') {
    throw new DatasetError('masks must be PNG (lossy JPEG would corrupt the labels)', file);
  }
  const png = readPng(buf, file, true);
  const { width, height } = png;
  const n = width * height;
  const src = png.data as unknown as ArrayLike<number>;
  if (Array.isArray(png.palette)) {
    const lookup = new Map<number, number>();
    png.palette.forEach((c, i) => {
      const key = packRgba(c[0], c[1], c[2], c[3]);
      if (!lookup.has(key)) lookup.set(key, i);
    });
    const data = new Uint16Array(n);
    for (let p = 0; p < n; p++) {
      const idx = lookup.get(packRgba(src[p * 4], src[p * 4 + 1], src[p * 4 + 2], src[p * 4 + 3]));
      // Cannot happen for a valid PNG: every pixel came from the palette.
      if (idx === undefined) throw new DatasetError(`pixel ${p} has no palette entry`, file);
      data[p] = idx;
    }
    return { kind: 'index', width, height, data };
  }
  if (!png.color) {
    const data = new Uint16Array(n);
    for (let p = 0; p < n; p++) data[p] = src[p * 4];
    return { kind: 'index', width, height, data };
  }
  const data = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    data[p * 3] = src[p * 4];
    data[p * 3 + 1] = src[p * 4 + 1];
    data[p * 3 + 2] = src[p * 4 + 2];
  }
  return { kind: 'rgb', width, height, data };
}

function packRgba(r: number, g: number, b: number, a: number): number {
  return ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

export function packRgb(r: number, g: number, b: number): number {
  return (r << 16) | (g << 8) | b;
}

/**
 * Bilinear resize of interleaved float/uint8 pixels, half-pixel centres (as TF's `align_corners=false`,
 * `half_pixel_centers=true`), so a resize to the same size is the identity.
 */
export function resizeBilinear(
  src: ArrayLike<number>,
  sh: number,
  sw: number,
  c: number,
  dh: number,
  dw: number,
): Float32Array {
  const out = new Float32Array(dh * dw * c);
  const sy = sh / dh;
  const sx = sw / dw;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * sw + x0) * c + k];
        const b = src[(y0 * sw + x1) * c + k];
        const d = src[(y1 * sw + x0) * c + k];
        const e = src[(y1 * sw + x1) * c + k];
        out[(y * dw + x) * c + k] = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resize of a label map (never blends two classes into a third). */
export function resizeNearest(src: Int32Array, sh: number, sw: number, dh: number, dw: number): Int32Array {
  if (sh === dh && sw === dw) return src;
  const out = new Int32Array(dh * dw);
  for (let y = 0; y < dh; y++) {
    const yy = Math.min(Math.floor(((y + 0.5) * sh) / dh), sh - 1);
    for (let x = 0; x < dw; x++) {
      const xx = Math.min(Math.floor(((x + 0.5) * sw) / dw), sw - 1);
      out[y * dw + x] = src[yy * sw + xx];
    }
  }
  return out;
}

/**
 * Turn 8-bit pixels into the model's input: resize to `h`×`w`, convert to `channels`, scale to [0, 1],
 * then apply the optional mean/std.
 */
export function toModelInput(
  img: RawImage,
  h: number,
  w: number,
  channels: 1 | 3,
  normalize?: ReadOptions['normalize'],
): Float32Array {
  const resized =
    img.height === h && img.width === w
      ? Float32Array.from(img.data)
      : resizeBilinear(img.data, img.height, img.width, img.channels, h, w);
  const n = h * w;
  const out = new Float32Array(n * channels);
  for (let p = 0; p < n; p++) {
    if (channels === img.channels) {
      for (let c = 0; c < channels; c++) out[p * channels + c] = resized[p * channels + c] / 255;
    } else if (channels === 3) {
      const v = resized[p] / 255;
      out[p * 3] = v;
      out[p * 3 + 1] = v;
      out[p * 3 + 2] = v;
    } else {
      // ITU-R BT.601 luma, the weights most grey conversions (PIL, OpenCV) use.
      out[p] = (0.299 * resized[p * 3] + 0.587 * resized[p * 3 + 1] + 0.114 * resized[p * 3 + 2]) / 255;
    }
  }
  if (normalize) applyNormalize(out, channels, normalize);
  return out;
}

export function applyNormalize(x: Float32Array, channels: number, norm: { mean: number[]; std: number[] }): void {
  if (norm.mean.length !== channels || norm.std.length !== channels) {
    throw new DatasetError(
      `normalize needs ${channels} mean and std values (got ${norm.mean.length} and ${norm.std.length})`,
    );
  }
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    x[i] = (x[i] - norm.mean[c]) / norm.std[c];
  }
}

/** Encode 8-bit grey or RGB pixels as PNG (used by the folder exporter and tests). */
export function encodePng(data: ArrayLike<number>, width: number, height: number, channels: 1 | 3): Buffer {
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) png.data[p * 4 + c] = data[p * channels + (channels === 1 ? 0 : c)];
    png.data[p * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2 });
}
