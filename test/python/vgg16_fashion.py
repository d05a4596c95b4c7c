# prunelens-model: ../../data/models/vgg16-fashion/model.json
"""PyTorch source of the bundled VGG-16 (data/models/vgg16-fashion/model.json, ×0.25 widths, 32×32×1 input):
the same layers and names, BatchNorm epsilon 1e-3 as Keras. block5's last conv feeds fc1 through Flatten
(1×1 spatial here, so one input feature per channel). Used by test/protocol/python-fixes.test.ts."""
import torch
from torch import nn


class VGG16Fashion(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1_conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.block1_bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.block1_conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.block1_bn2 = nn.BatchNorm2d(16, eps=1e-3)
        self.block2_conv1 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.block2_bn1 = nn.BatchNorm2d(32, eps=1e-3)
        self.block2_conv2 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
        self.block2_bn2 = nn.BatchNorm2d(32, eps=1e-3)
        self.block3_conv1 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.block3_bn1 = nn.BatchNorm2d(64, eps=1e-3)
        self.block3_conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.block3_bn2 = nn.BatchNorm2d(64, eps=1e-3)
        self.block3_conv3 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.block3_bn3 = nn.BatchNorm2d(64, eps=1e-3)
        self.block4_conv1 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.block4_bn1 = nn.BatchNorm2d(128, eps=1e-3)
        self.block4_conv2 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
        self.block4_bn2 = nn.BatchNorm2d(128, eps=1e-3)
        self.block4_conv3 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
        self.block4_bn3 = nn.BatchNorm2d(128, eps=1e-3)
        self.block5_conv1 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
        self.block5_bn1 = nn.BatchNorm2d(128, eps=1e-3)
        self.block5_conv2 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
        self.block5_bn2 = nn.BatchNorm2d(128, eps=1e-3)
        self.block5_conv3 = nn.Conv2d(128, 128, 3, padding=1, bias=False)
        self.block5_bn3 = nn.BatchNorm2d(128, eps=1e-3)
        self.fc1 = nn.Linear(128, 128, bias=False)
        self.fc1_bn = nn.BatchNorm1d(128, eps=1e-3)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        for block, convs in (("block1", 2), ("block2", 2), ("block3", 3), ("block4", 3), ("block5", 3)):
            for i in range(1, convs + 1):
                x = torch.relu(getattr(self, f"{block}_bn{i}")(getattr(self, f"{block}_conv{i}")(x)))
            x = nn.functional.max_pool2d(x, 2)
        # Flatten in TF.js's NHWC order (a no-op at 1×1 spatial, kept so the weights load either way).
        x = x.permute(0, 2, 3, 1).flatten(1)
        x = torch.relu(self.fc1_bn(self.fc1(x)))
        return torch.softmax(self.head(x), 1)
