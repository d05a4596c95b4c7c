#!/usr/bin/env bash
# Trains the bundled demo models from scratch, seeded, with the project's own CLI. Each model's log is
# committed beside it (data/models/<name>/train-log.txt). Re-running reproduces them on the same backend
# (wasm SIMD here); weights differ across backends in the last bits.
#   bash scripts/train-demo-models.sh [unet|vgg|segnet|deeplab]
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
which="${1:-all}"
# RESUME=1 continues an interrupted run from its checkpoints (data/models/<name>.tmp.checkpoints).
resume=()
[[ "${RESUME:-0}" == 1 ]] && resume=(--resume)
[[ "${RESUME:-0}" == 1 ]] || rm -f /tmp/unet-train-log.txt /tmp/vgg-train-log.txt /tmp/segnet-train-log.txt /tmp/deeplab-train-log.txt

if [[ "$which" == all || "$which" == unet ]]; then
  out=data/models/unet-cropweed
  [[ "${RESUME:-0}" == 1 ]] || rm -rf "$out.tmp.checkpoints"
  # U-Net, 3 levels, base width 16, BatchNorm, on 400 synthetic 64×64 crop/weed fields (seeded).
  node bin/prunelens.js train zoo:unet \
    --zoo-options '{"depth":3,"baseFilters":16,"batchNorm":true,"inputShape":[64,64,3],"numClasses":3,"seed":1}' \
    --data bundled:cropweed --count 400 --seed 7 \
    --epochs 16 --patience 4 --batch-size 8 --lr 0.002 --class-weights "${resume[@]}" \
    --out "$out.tmp" 2>&1 | tee -a /tmp/unet-train-log.txt
  rm -rf "$out" && mv "$out.tmp" "$out" && mv /tmp/unet-train-log.txt "$out/train-log.txt"
  rm -rf "$out.tmp.checkpoints"
fi

if [[ "$which" == all || "$which" == vgg ]]; then
  out=data/models/vgg16-fashion
  [[ "${RESUME:-0}" == 1 ]] || rm -rf "$out.tmp.checkpoints"
  # VGG-16 at width ×0.25 with BatchNorm, on the vendored Fashion-MNIST subset padded to 32×32.
  node bin/prunelens.js train zoo:vgg16 \
    --zoo-options '{"widthMultiplier":0.25,"batchNorm":true,"inputShape":[32,32,1],"numClasses":10,"seed":1}' \
    --data bundled:fashion-mnist --seed 7 \
    --epochs 12 --patience 3 --batch-size 32 --lr 0.001 "${resume[@]}" \
    --out "$out.tmp" 2>&1 | tee -a /tmp/vgg-train-log.txt
  rm -rf "$out" && mv "$out.tmp" "$out" && mv /tmp/vgg-train-log.txt "$out/train-log.txt"
  rm -rf "$out.tmp.checkpoints"
fi

# DeepLabv3+ and SegNet at their zoo demo sizes, on the same 400 crop/weed fields as the U-Net, with longer
# schedules: DeepLabv3+ stopped at 53.6% test mIoU with 16 epochs and patience 4 while its loss still fell, and
# SegNet sits on the uniform-prediction loss (ln 3 with class weights) for about ten epochs before it learns.
train_cropweed() {
  local zoo="$1" out="$2" log="$3" epochs="$4" patience="$5"
  [[ "${RESUME:-0}" == 1 ]] || rm -rf "$out.tmp.checkpoints"
  node bin/prunelens.js train "zoo:$zoo" --zoo-options '{"seed":1}' \
    --data bundled:cropweed --count 400 --seed 7 \
    --epochs "$epochs" --patience "$patience" --batch-size 8 --lr 0.002 --class-weights "${resume[@]}" \
    --out "$out.tmp" 2>&1 | tee -a "$log"
  rm -rf "$out" && mv "$out.tmp" "$out" && mv "$log" "$out/train-log.txt"
  rm -rf "$out.tmp.checkpoints"
}
if [[ "$which" == all || "$which" == segnet ]]; then
  train_cropweed segnet data/models/segnet-cropweed /tmp/segnet-train-log.txt 60 10
fi
if [[ "$which" == all || "$which" == deeplab ]]; then
  train_cropweed deeplabv3plus data/models/deeplabv3plus-cropweed /tmp/deeplab-train-log.txt 60 8
fi
