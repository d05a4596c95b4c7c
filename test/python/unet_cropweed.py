# prunelens-model: ../../data/models/unet-cropweed/model.json
"""PyTorch source of the bundled U-Net (data/models/unet-cropweed/model.json): the same layers, widths and
names (attribute = TF.js layer name), BatchNorm epsilon 1e-3 as Keras. The skip connections concatenate
[encoder, upsampled], so every encoder block's last conv feeds two consumers: the next level and the decoder.
test/protocol/python-fixes.test.ts applies PruneLens' quick fixes to it and runs it with the pruned weights."""
import torch
from torch import nn


class UNetCropWeed(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1_conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.enc1_bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.enc1_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.enc1_bn2 = nn.BatchNorm2d(16, eps=1e-3)
        self.enc2_conv1 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.enc2_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.enc2_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.enc2_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.enc3_conv1 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.enc3_bn1 = nn.BatchNorm2d(64, eps=1e-3)
        self.enc3_conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.enc3_bn2 = nn.BatchNorm2d(64, eps=1e-3)
        self.bottleneck_conv1 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bottleneck_bn1 = nn.BatchNorm2d(128, eps=1e-3)
        self.bottleneck_conv2 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
        self.bottleneck_bn2 = nn.BatchNorm2d(128, eps=1e-3)
        self.up3 = nn.ConvTranspose2d(128, 64, 2, stride=2)
        self.dec3_conv1 = nn.Conv2d(128, 64, 3, padding=1, bias=False)
        self.dec3_bn1 = nn.BatchNorm2d(64, eps=1e-3)
        self.dec3_conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.dec3_bn2 = nn.BatchNorm2d(64, eps=1e-3)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2_conv1 = nn.Conv2d(64, 32, 3, padding=1, bias=False)
        self.dec2_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.dec2_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.dec2_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec1_conv1 = nn.Conv2d(32, 16, 3, padding=1, bias=False)
        self.dec1_bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.dec1_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.dec1_bn2 = nn.BatchNorm2d(16, eps=1e-3)
        self.head = nn.Conv2d(16, 3, 1)

    def block(self, x, level):
        x = torch.relu(getattr(self, f"{level}_bn1")(getattr(self, f"{level}_conv1")(x)))
        return torch.relu(getattr(self, f"{level}_bn2")(getattr(self, f"{level}_conv2")(x)))

    def forward(self, x):
        e1 = self.block(x, "enc1")
        e2 = self.block(nn.functional.max_pool2d(e1, 2), "enc2")
        e3 = self.block(nn.functional.max_pool2d(e2, 2), "enc3")
        b = self.block(nn.functional.max_pool2d(e3, 2), "bottleneck")
        d3 = self.block(torch.cat([e3, self.up3(b)], 1), "dec3")
        d2 = self.block(torch.cat([e2, self.up2(d3)], 1), "dec2")
        d1 = self.block(torch.cat([e1, self.up1(d2)], 1), "dec1")
        return torch.softmax(self.head(d1), 1)
