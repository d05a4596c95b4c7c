// Extracts the small, class-balanced Fashion-MNIST subset committed under data/fashion-mnist-subset/.
// Development-time only: needs the Debian package `dataset-fashion-mnist` (apt-get install -y
// dataset-fashion-mnist), which installs the original IDX files under /usr/share/datasets/fashion-mnist/.
//   node --import tsx scripts/vendor-fashion-mnist.ts [sourceDir] [outDir]
// The selection is seeded, so re-running it reproduces the committed files byte for byte.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, FASHION_MNIST_CLASSES, parseIdx } from '../server/src/engine/data/mnist-idx';
import { Rng } from '../server/src/engine/util/rng';

const SOURCE = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const OUT = process.argv[3] ?? join(__dirname, '..', 'data', 'fashion-mnist-subset');
const SEED = 20240101;
const PER_CLASS = { train: 600, t10k: 100 } as const;

mkdirSync(OUT, { recursive: true });
const provenance: string[] = [];
for (const [prefix, perClass] of Object.entries(PER_CLASS)) {
  const imgFile = join(SOURCE, `${prefix}-images-idx3-ubyte.gz`);
  const lblFile = join(SOURCE, `${prefix}-labels-idx1-ubyte.gz`);
  const imgRaw = readFileSync(imgFile);
  const lblRaw = readFileSync(lblFile);
  const images = parseIdx(imgRaw, imgFile);
  const labels = parseIdx(lblRaw, lblFile);
  const [, rows, cols] = images.dims;
  const px = rows * cols;

  // Per class: shuffle that class's indices with its own seeded stream, keep the first `perClass`.
  const chosen: number[] = [];
  for (let c = 0; c < 10; c++) {
    const ofClass: number[] = [];
    labels.data.forEach((l, i) => l === c && ofClass.push(i));
    chosen.push(...new Rng(SEED * 31 + c + (prefix === 'train' ? 0 : 1000)).shuffle(ofClass).slice(0, perClass));
  }
  // Original order, so classes stay interleaved as in the source files.
  chosen.sort((a, b) => a - b);

  const outImages = new Uint8Array(chosen.length * px);
  const outLabels = new Uint8Array(chosen.length);
  chosen.forEach((src, k) => {
    outImages.set(images.data.subarray(src * px, (src + 1) * px), k * px);
    outLabels[k] = labels.data[src];
  });
  // mtime 0 in the gzip header (Node writes 0) keeps the output byte-identical across runs.
  writeFileSync(
    join(OUT, `${prefix}-images-idx3-ubyte.gz`),
    gzipSync(encodeIdx([chosen.length, rows, cols], outImages), { level: 9 }),
  );
  writeFileSync(
    join(OUT, `${prefix}-labels-idx1-ubyte.gz`),
    gzipSync(encodeIdx([chosen.length], outLabels), { level: 9 }),
  );
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  provenance.push(
    `- \`${prefix}\`: ${chosen.length} images (${perClass} per class) drawn from ${images.dims[0]} in ` +
      `\`${prefix}-images-idx3-ubyte.gz\` (sha256 ${sha(imgRaw)}) / \`${prefix}-labels-idx1-ubyte.gz\` (sha256 ${sha(lblRaw)}).`,
  );
  console.log(`${prefix}: ${chosen.length} images`);
}

writeFileSync(join(OUT, 'classes.json'), JSON.stringify(FASHION_MNIST_CLASSES, null, 2) + '\n');
writeFileSync(
  join(OUT, 'LICENSE'),
  `The MIT License (MIT) Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the “Software”), to deal in the Software without restriction, including without
limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the
Software, and to permit persons to whom the Software is furnished to do so, subject to the following
conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED “AS IS”, WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN
AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE
OR OTHER DEALINGS IN THE SOFTWARE.
`,
);
writeFileSync(
  join(OUT, 'README.md'),
  `# Fashion-MNIST subset

A class-balanced subset of [Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist)
(Xiao, Rasul, Vollgraf 2017; © 2017 Zalando SE, MIT licence, see \`LICENSE\`), vendored so PruneLens's
demo and tests run offline. 28×28 grey images, 10 classes (\`classes.json\`), standard IDX format, gzipped.

${provenance.join('\n')}

Made by \`scripts/vendor-fashion-mnist.ts\` (seed ${SEED}) from the Debian package \`dataset-fashion-mnist\`;
re-running it reproduces these files. Read them with PruneLens's IDX reader
(\`openDataset('data/fashion-mnist-subset', { padTo: 32 })\` for VGG-16's 32×32 input).
`,
);
