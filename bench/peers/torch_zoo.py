"""PyTorch peer of bench/zoo-speed.ts: the same four demo architectures, batch and image sizes, on the CPU.

Runs only where `python3 -c "import torch"` works (not on the offline build machines, where PyPI is
unreachable); `npm run bench` calls it then and the README states the ratio measured in one run.
Writes bench/results/peer-torch-<model>.json with train and eval images/s.
"""
import json
import os
import time

import torch
from torch import nn

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))
IMAGES = int(os.environ.get("BENCH_IMAGES", "64"))
BATCH = 8


def cbr(cin, cout, dilation=1, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):  # zoo unet demo: depth 3, base 8, BN, transpose up-convs, 3 classes
    def __init__(self, depth=3, base=8, cin=3, classes=3):
        super().__init__()
        w = [base * 2**i for i in range(depth + 1)]
        self.enc = nn.ModuleList([nn.Sequential(cbr(cin if i == 0 else w[i - 1], w[i]), cbr(w[i], w[i])) for i in range(depth)])
        self.bottleneck = nn.Sequential(cbr(w[depth - 1], w[depth]), cbr(w[depth], w[depth]))
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, 2) for i in range(depth)])
        self.dec = nn.ModuleList([nn.Sequential(cbr(2 * w[i], w[i]), cbr(w[i], w[i])) for i in range(depth)])
        self.head = nn.Conv2d(w[0], classes, 1)

    def forward(self, x):
        skips = []
        for e in self.enc:
            x = e(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for i in reversed(range(len(self.enc))):
            x = self.dec[i](torch.cat([skips[i], self.up[i](x)], 1))
        return self.head(x)


class SegNet(nn.Module):  # zoo segnet demo: base 8, 4 blocks, nearest upsampling in place of unpooling
    def __init__(self, base=8, depth=4, cin=3, classes=3):
        super().__init__()
        convs = [2, 2, 3, 3, 3][:depth]
        widths = [min(base * 2**i, base * 8) for i in range(depth)]
        enc, c = [], cin
        for n, w in zip(convs, widths):
            enc.append(nn.Sequential(*[cbr(c if k == 0 else w, w) for k in range(n)]))
            c = w
        self.enc = nn.ModuleList(enc)
        dec = []
        for i in reversed(range(depth)):
            out = widths[i - 1] if i > 0 else widths[0]
            dec.append(nn.Sequential(*[cbr(widths[i], widths[i] if k < convs[i] - 1 else out) for k in range(convs[i])]))
        self.dec = nn.ModuleList(dec)
        self.head = nn.Conv2d(widths[0], classes, 3, padding=1)

    def forward(self, x):
        for e in self.enc:
            x = nn.functional.max_pool2d(e(x), 2)
        for d in self.dec:
            x = d(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
        return self.head(x)


class DeepLab(nn.Module):  # zoo deeplabv3plus demo: width 8, 3 stages × 1 block, OS 8, ASPP
    def __init__(self, width=8, cin=3, classes=3):
        super().__init__()
        self.stem = cbr(cin, width, stride=2)
        self.s1 = cbr(width, width * 2, stride=2)
        self.s2 = cbr(width * 2, width * 4, stride=2)
        self.s3 = cbr(width * 4, width * 8, dilation=2)
        a = width * 4
        one_by_one = nn.Sequential(nn.Conv2d(width * 8, a, 1, bias=False), nn.BatchNorm2d(a), nn.ReLU())
        self.aspp = nn.ModuleList([one_by_one] + [cbr(width * 8, a, dilation=r) for r in (2, 4, 6)])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(width * 8, a, 1))
        self.project = nn.Sequential(nn.Conv2d(5 * a, a, 1, bias=False), nn.BatchNorm2d(a), nn.ReLU())
        self.low = nn.Sequential(nn.Conv2d(width * 2, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.dec = nn.Sequential(cbr(a + width, a), cbr(a, a))
        self.head = nn.Conv2d(a, classes, 1)

    def forward(self, x):
        size = x.shape[-2:]
        x = self.stem(x)
        low = self.s1(x)
        x = self.s3(self.s2(low))
        p = self.pool(x).expand(-1, -1, x.shape[2], x.shape[3])
        x = self.project(torch.cat([b(x) for b in self.aspp] + [p], 1))
        x = nn.functional.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.head(self.dec(torch.cat([x, self.low(low)], 1)))
        return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


class VGG16(nn.Module):  # zoo vgg16 demo: ×0.25, BN, 32×32×1, flatten head
    def __init__(self, mult=0.25, cin=1, classes=10):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        layers, c = [], cin
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                w = max(1, round(v * mult))
                layers.append(cbr(c, w))
                c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c, round(512 * mult)), nn.ReLU(), nn.Dropout(0.5), nn.Linear(round(512 * mult), classes))

    def forward(self, x):
        return self.fc(self.features(x))


MODELS = {"unet": (UNet, (3, 64, 64), 3), "segnet": (SegNet, (3, 64, 64), 3), "deeplabv3plus": (DeepLab, (3, 64, 64), 3), "vgg16": (VGG16, (1, 32, 32), 10)}


def bench(name):
    cls, shape, classes = MODELS[name]
    model = cls()
    x = torch.rand(IMAGES, *shape)
    y = torch.randint(0, classes, (IMAGES, *shape[1:])) if name != "vgg16" else torch.randint(0, classes, (IMAGES,))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    t0 = time.perf_counter()
    for i in range(0, IMAGES, BATCH):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x[i : i + BATCH]), y[i : i + BATCH])
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        for i in range(0, IMAGES, BATCH):
            model(x[i : i + BATCH])
        eval_s = time.perf_counter() - t0
    result = {"model": name, "torch": torch.__version__, "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()), "images": IMAGES, "trainImagesPerSecond": IMAGES / train_s, "evalImagesPerSecond": IMAGES / eval_s}
    os.makedirs(os.path.join(os.path.dirname(__file__), "..", "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "..", "results", f"peer-torch-{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    for name in MODELS:
        bench(name)
