"""Exports torchvision architectures (random weights, never a download) with PyTorch's own ONNX exporter, and
counts each model's multiply-accumulates with forward hooks, for the ONNX peer test.

usage: /usr/bin/python3 export_torchvision.py OUT_DIR SIZE NAME [NAME ...]
Writes OUT_DIR/NAME.onnx and OUT_DIR/NAME.json ({"macs": ..., "input": [1, 3, SIZE, SIZE]}). Exported at opset 13
(LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div) unless NAME ends in @OPSET, e.g. convnext_tiny@17 (one
LayerNormalization node).
MACs: Conv2d = output elements x (in_channels / groups) x kh x kw; Linear = batch rows x in x out; BatchNorm2d one
per output element unless it reads a convolution's output (the export folds those into the convolution); the rest 0
(the convention of PruneLens's measure/cost.ts, which counts a BatchNormalization left in the file per element).
"""
import json
import os
import sys

import torch
import torchvision
from torchvision.models.convnext import CNBlockConfig

BUILDERS = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(weights=None),
    "shufflenet_v2_x0_5": lambda: torchvision.models.shufflenet_v2_x0_5(weights=None),
    "regnet_x_400mf": lambda: torchvision.models.regnet_x_400mf(weights=None),
    "googlenet": lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True),
    "lraspp_mobilenet_v3_large": lambda: torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None),
    "fcn_resnet50": lambda: torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=False),
    "convnext_tiny": lambda: torchvision.models.convnext_tiny(weights=None),
    # torchvision's own ConvNeXt at width 16/32 (stem and downsample LayerNorm2d, CNBlocks, classifier LayerNorm2d):
    # fast enough for every test run.
    "convnext_mini": lambda: torchvision.models.convnext.ConvNeXt(
        [CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 2)], num_classes=10),
    "deeplabv3_mobilenet_v3_large": lambda: torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=False),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(weights=None),
    "densenet121": lambda: torchvision.models.densenet121(weights=None),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(weights=None),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
}


class Plain(torch.nn.Module):
    """Segmentation models return a dict; the export takes its 'out' tensor."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        y = self.m(x)
        return y["out"] if isinstance(y, dict) else y


def count_macs(model, x):
    total = [0]

    conv_outputs = {}  # data_ptr -> tensor: holding the tensor keeps its memory from being reused by another

    def conv(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += out.numel() * (mod.in_channels // mod.groups) * k
        conv_outputs[out.data_ptr()] = out

    def batchnorm(mod, inp, out):
        # Pre-activation BatchNorm (DenseNet) stays in the exported file as its own node.
        if inp[0].data_ptr() not in conv_outputs:
            total[0] += out.numel()

    def linear(mod, inp, out):
        total[0] += out.numel() // mod.out_features * mod.in_features * mod.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, torch.nn.BatchNorm2d):
            hooks.append(m.register_forward_hook(batchnorm))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total[0]


def split(name):
    """'convnext_tiny@17' → ('convnext_tiny', 17); a plain name exports at opset 13."""
    base, _, opset = name.partition("@")
    return base, int(opset or 13)


def build(name):
    """The model with the same random weights every time (seeded per model: narrow_torchvision.py rebuilds it)."""
    torch.manual_seed(0)
    model = Plain(BUILDERS[split(name)[0]]()).eval()
    # Random BatchNorm statistics, so a folded BatchNorm is not the identity; random LayerNorm scale and bias and
    # ConvNeXt layer scale (initialised to ones, zeros and 1e-6, which would hide a wrongly sliced one).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
        elif isinstance(m, torch.nn.LayerNorm):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        elif hasattr(m, "layer_scale"):
            with torch.no_grad():
                m.layer_scale.uniform_(0.2, 1.0)
    return model


def main():
    out_dir, size, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    torch.set_num_threads(1)
    for name in names:
        model = build(name)
        x = torch.randn(1, 3, size, size)
        macs = count_macs(model, x)
        path = os.path.join(out_dir, name + ".onnx")
        torch.onnx.export(model, x, path, opset_version=split(name)[1], input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump({"macs": macs, "input": [1, 3, size, size]}, f)


if __name__ == "__main__":
    main()
