# prunelens-model: ../../data/models/segnet-cropweed/model.json
"""PyTorch source of the bundled SegNet (data/models/segnet-cropweed/model.json, 4 blocks of 8·(1,2,4,8)
filters, 64×64 RGB): the same layers, widths and names (attribute = TF.js layer name), BatchNorm epsilon 1e-3
as Keras. Like the zoo's SegNet (server/src/engine/zoo/segnet.ts, which says why) the decoder upsamples by
nearest-neighbour copying, not with the encoder's pooling indices: with indices, each decoder block's input
width would be tied to its encoder block's output width, a coupling the model does not have (see
segnet_indices_cropweed.py). test/protocol/python-fixes.test.ts applies PruneLens' quick fixes to it and runs
it with the pruned weights."""
import torch
from torch import nn

# Convolutions per block, encoder block 1 first; the decoder mirrors them.
BLOCKS = (2, 2, 3, 3)


class SegNetCropWeed(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1_conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.enc1_bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.enc1_conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.enc1_bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.enc2_conv1 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.enc2_bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.enc2_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.enc2_bn2 = nn.BatchNorm2d(16, eps=1e-3)
        self.enc3_conv1 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.enc3_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.enc3_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.enc3_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.enc3_conv3 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.enc3_bn3 = nn.BatchNorm2d(32, eps=1e-3)
        self.enc4_conv1 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.enc4_bn1 = nn.BatchNorm2d(64, eps=1e-3)
        self.enc4_conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.enc4_bn2 = nn.BatchNorm2d(64, eps=1e-3)
        self.enc4_conv3 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.enc4_bn3 = nn.BatchNorm2d(64, eps=1e-3)
        self.dec4_conv1 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.dec4_bn1 = nn.BatchNorm2d(64, eps=1e-3)
        self.dec4_conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.dec4_bn2 = nn.BatchNorm2d(64, eps=1e-3)
        self.dec4_conv3 = nn.Conv2d(64, 32, 3, padding=1, bias=False)
        self.dec4_bn3 = nn.BatchNorm2d(32, eps=1e-3)
        self.dec3_conv1 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.dec3_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.dec3_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.dec3_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.dec3_conv3 = nn.Conv2d(32, 16, 3, padding=1, bias=False)
        self.dec3_bn3 = nn.BatchNorm2d(16, eps=1e-3)
        self.dec2_conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.dec2_bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.dec2_conv2 = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.dec2_bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.dec1_conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.dec1_bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.head = nn.Conv2d(8, 3, 3, padding=1)

    def unit(self, x, prefix, k):
        return torch.relu(getattr(self, f"{prefix}_bn{k}")(getattr(self, f"{prefix}_conv{k}")(x)))

    def forward(self, x):
        for b, convs in enumerate(BLOCKS, 1):
            for k in range(1, convs + 1):
                x = self.unit(x, f"enc{b}", k)
            x = nn.functional.max_pool2d(x, 2)
        for b in range(len(BLOCKS), 0, -1):
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            # Decoder block 1's last unit is the classifier.
            for k in range(1, BLOCKS[b - 1] + (0 if b == 1 else 1)):
                x = self.unit(x, f"dec{b}", k)
        return torch.softmax(self.head(x), 1)
