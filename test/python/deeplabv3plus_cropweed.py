# prunelens-model: ../../data/models/deeplabv3plus-cropweed/model.json
"""PyTorch source of the bundled DeepLabv3+ (data/models/deeplabv3plus-cropweed/model.json: width 8, three
residual stages of one basic block, output stride 8, ASPP at 32 filters, 64×64 RGB): the same layers, widths
and names (attribute = TF.js layer name), BatchNorm epsilon 1e-3 as Keras.
What the quick fixes must follow here:
  - residual Adds: a block's conv2 and its shortcut (the block input, or its 1×1 `_proj`) are summed, so
    they are one coupled group and narrow together (stem_conv with stage1_block1_conv2);
  - concatenations: aspp_proj_conv reads the five ASPP branches, decoder_conv1 reads the upsampled ASPP
    output and low_level_conv; each branch is one segment of their in_channels;
  - one group with many readers: stage 1's output feeds stage 2 (conv1 and proj) and low_level_conv.
Keras 'same' padding is asymmetric for a stride-2 convolution on an even size (0 before, 1 after), and TF's
bilinear upsampling samples at dst/scale (no half-pixel offset); both are written out so the outputs match.
test/protocol/python-fixes.test.ts applies PruneLens' quick fixes to it and runs it with the pruned weights."""
import torch
from torch import nn
from torch.nn import functional as F


def same_stride2(x):
    """Keras 'same' padding before a stride-2 3×3 convolution on an even-sized input."""
    return F.pad(x, (0, 1, 0, 1))


def tf_bilinear(x, factor):
    """TF.js UpSampling2D(interpolation='bilinear'): resizeBilinear without align_corners or half pixels."""
    def axis(size):
        src = torch.arange(size * factor, dtype=x.dtype) / factor
        lo = src.floor().long()
        return lo, (lo + 1).clamp(max=size - 1), src - lo
    y0, y1, fy = axis(x.shape[2])
    x0, x1, fx = axis(x.shape[3])
    rows = x[:, :, y0, :] + (x[:, :, y1, :] - x[:, :, y0, :]) * fy.view(1, 1, -1, 1)
    return rows[:, :, :, x0] + (rows[:, :, :, x1] - rows[:, :, :, x0]) * fx.view(1, 1, 1, -1)


class DeepLabV3PlusCropWeed(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, 8, 3, stride=2, bias=False)
        self.stem_bn = nn.BatchNorm2d(8, eps=1e-3)
        self.stage1_block1_conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.stage1_block1_bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.stage1_block1_conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.stage1_block1_bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.stage2_block1_conv1 = nn.Conv2d(8, 16, 3, stride=2, bias=False)
        self.stage2_block1_bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.stage2_block1_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.stage2_block1_bn2 = nn.BatchNorm2d(16, eps=1e-3)
        self.stage2_block1_proj = nn.Conv2d(8, 16, 1, stride=2, bias=False)
        self.stage2_block1_proj_bn = nn.BatchNorm2d(16, eps=1e-3)
        self.stage3_block1_conv1 = nn.Conv2d(16, 32, 3, padding=2, dilation=2, bias=False)
        self.stage3_block1_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.stage3_block1_conv2 = nn.Conv2d(32, 32, 3, padding=2, dilation=2, bias=False)
        self.stage3_block1_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.stage3_block1_proj = nn.Conv2d(16, 32, 1, bias=False)
        self.stage3_block1_proj_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.aspp_pool_conv = nn.Conv2d(32, 32, 1, bias=False)
        self.aspp_pool_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.aspp_b0_conv = nn.Conv2d(32, 32, 1, bias=False)
        self.aspp_b0_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.aspp_b1_conv = nn.Conv2d(32, 32, 3, padding=2, dilation=2, bias=False)
        self.aspp_b1_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.aspp_b2_conv = nn.Conv2d(32, 32, 3, padding=3, dilation=3, bias=False)
        self.aspp_b2_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.aspp_b3_conv = nn.Conv2d(32, 32, 3, padding=5, dilation=5, bias=False)
        self.aspp_b3_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.aspp_proj_conv = nn.Conv2d(160, 32, 1, bias=False)
        self.aspp_proj_bn = nn.BatchNorm2d(32, eps=1e-3)
        self.low_level_conv = nn.Conv2d(8, 6, 1, bias=False)
        self.low_level_bn = nn.BatchNorm2d(6, eps=1e-3)
        self.decoder_conv1 = nn.Conv2d(38, 32, 3, padding=1, bias=False)
        self.decoder_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.decoder_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.decoder_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.head = nn.Conv2d(32, 3, 1)

    def unit(self, x, conv, bn, relu=True, pad=None):
        y = getattr(self, bn)(getattr(self, conv)(pad(x) if pad else x))
        return torch.relu(y) if relu else y

    def block(self, x, prefix, stride2=False, project=False):
        y = self.unit(x, f"{prefix}_conv1", f"{prefix}_bn1", pad=same_stride2 if stride2 else None)
        y = self.unit(y, f"{prefix}_conv2", f"{prefix}_bn2", relu=False)
        shortcut = self.unit(x, f"{prefix}_proj", f"{prefix}_proj_bn", relu=False) if project else x
        return torch.relu(y + shortcut)

    def forward(self, x):
        x = self.unit(x, "stem_conv", "stem_bn", pad=same_stride2)
        x = F.max_pool2d(x, 2)
        low = x = self.block(x, "stage1_block1")
        x = self.block(x, "stage2_block1", stride2=True, project=True)
        x = self.block(x, "stage3_block1", project=True)
        pooled = self.unit(F.adaptive_avg_pool2d(x, 1), "aspp_pool_conv", "aspp_pool_bn")
        branches = [self.unit(x, f"aspp_b{i}_conv", f"aspp_b{i}_bn") for i in range(4)]
        branches.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))
        x = self.unit(torch.cat(branches, 1), "aspp_proj_conv", "aspp_proj_bn")
        x = torch.cat([tf_bilinear(x, 2), self.unit(low, "low_level_conv", "low_level_bn")], 1)
        x = self.unit(x, "decoder_conv1", "decoder_bn1")
        x = self.unit(x, "decoder_conv2", "decoder_bn2")
        return torch.softmax(tf_bilinear(self.head(x), 4), 1)
