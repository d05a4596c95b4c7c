"""Exports torchvision architectures (random weights, never a download) with PyTorch's own ONNX exporter, and
counts each model's multiply-accumulates with forward hooks, for the ONNX peer test.

usage: /usr/bin/python3 export_torchvision.py OUT_DIR SIZE NAME [NAME ...]
NAME is an architecture, optionally with export variants users produce: `resnet18@op11+dynhw` (see VARIANTS).
Writes OUT_DIR/NAME.onnx and OUT_DIR/NAME.json ({"macs": ..., "input": [1, 3, S, S], "outputs": [...]}), S = SIZE
unless the architecture needs another (MIN_SIZE).
MACs: Conv2d = output elements x (in_channels / groups) x kh x kw; Linear = batch rows x in x out; BatchNorm2d one
per output element unless it reads a convolution's output (the export folds those into the convolution); the rest 0
(the convention of PruneLens's measure/cost.ts, which counts a BatchNormalization left in the file per element).
"""
import json
import os
import re
import sys

import onnx
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
    "resnet34": lambda: torchvision.models.resnet34(weights=None),
    "resnext50_32x4d": lambda: torchvision.models.resnext50_32x4d(weights=None),
    "wide_resnet50_2": lambda: torchvision.models.wide_resnet50_2(weights=None),
    "regnet_y_400mf": lambda: torchvision.models.regnet_y_400mf(weights=None),
    "mnasnet0_5": lambda: torchvision.models.mnasnet0_5(weights=None),
    "mnasnet1_0": lambda: torchvision.models.mnasnet1_0(weights=None),
    "squeezenet1_0": lambda: torchvision.models.squeezenet1_0(weights=None),
    "squeezenet1_1": lambda: torchvision.models.squeezenet1_1(weights=None),
    "vgg11_bn": lambda: torchvision.models.vgg11_bn(weights=None),
    "vgg16": lambda: torchvision.models.vgg16(weights=None),
    "alexnet": lambda: torchvision.models.alexnet(weights=None),
    "inception_v3": lambda: torchvision.models.inception_v3(weights=None, aux_logits=False, transform_input=True, init_weights=False),
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large(weights=None),
    "efficientnet_v2_s": lambda: torchvision.models.efficientnet_v2_s(weights=None),
    "shufflenet_v2_x1_0": lambda: torchvision.models.shufflenet_v2_x1_0(weights=None),
    # transform_input=True: the input's channels re-normalised one by one (Gather on the channel axis → Concat).
    "googlenet_transform_input": lambda: torchvision.models.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=True),
    "deeplabv3_resnet50": lambda: torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False),
}
# Two-output exports: segmentation models with their auxiliary head ('out' and 'aux').
AUX_BUILDERS = {
    "deeplabv3_mobilenet_v3_large": lambda: torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=True),
    "fcn_resnet50": lambda: torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=True),
}
# Inputs smaller than these fail in the architecture (Inception's stem) or in the exporter (VGG's and AlexNet's
# adaptive average pool exports only when its output size divides the input's: 7x7 and 6x6 maps at 224).
MIN_SIZE = {"inception_v3": 96, "vgg11_bn": 224, "vgg16": 224, "alexnet": 224}
# Export variants: `@` then `+`-joined keys. Default: opset 13, batch dynamic, constant folding, input "input".
VARIANTS = {
    "op9": {"opset_version": 9},
    "op10": {"opset_version": 10},
    "op11": {"opset_version": 11},
    "op13": {"opset_version": 13},
    "op17": {"opset_version": 17},
    "static": {"dynamic": "none"},
    "dynhw": {"dynamic": "hw"},
    "nofold": {"do_constant_folding": False},
    "names": {"input_names": ["images"]},
    "kiai": {"keep_initializers_as_inputs": True},
    "aux": {},
    # torch.onnx.export(model, x, path) and nothing else: the exporter's default opset (14 in torch 1.13) and
    # names ('input.1', numbered outputs), every dimension static.
    "plain": {"plain": True},
}


class Plain(torch.nn.Module):
    """Segmentation models return a dict; the export takes its 'out' tensor (and 'aux' as a second output)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        y = self.m(x)
        if isinstance(y, dict):
            return (y["out"], y["aux"]) if "aux" in y else y["out"]
        return y


def parse(name):
    """'resnet18@op11+dynhw' → ('resnet18', ['op11', 'dynhw'])."""
    arch, _, rest = name.partition("@")
    variants = rest.split("+") if rest else []
    for v in variants:
        if v not in VARIANTS and not re.fullmatch(r"s\d+", v):
            sys.exit(f"{name}: unknown export variant {v!r} (known: {', '.join(VARIANTS)}, s<SIZE>)")
    if arch not in BUILDERS and arch not in AUX_BUILDERS and not hasattr(torchvision.models, arch):
        if not hasattr(torchvision.models.segmentation, arch):
            sys.exit(f"{name}: unknown architecture {arch!r}")
    return arch, variants


def builder(arch, variants):
    """The named builder, else any torchvision classification or segmentation model by its function name."""
    if "aux" in variants and arch in AUX_BUILDERS:
        return AUX_BUILDERS[arch]
    if arch in BUILDERS:
        return BUILDERS[arch]
    if hasattr(torchvision.models.segmentation, arch):
        seg = getattr(torchvision.models.segmentation, arch)
        return lambda: seg(weights=None, weights_backbone=None, aux_loss="aux" in variants)
    return lambda: getattr(torchvision.models, arch)(weights=None)


def input_size(name, size):
    """SIZE, a variant's s<N> (e.g. s224, the size ImageNet models are built for), or the architecture's minimum."""
    sizes = [int(v[1:]) for v in parse(name)[1] if re.fullmatch(r"s\d+", v)]
    return sizes[-1] if sizes else max(size, MIN_SIZE.get(parse(name)[0], 0))


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


def build(name):
    """The model with the same random weights every time (seeded per model: narrow_torchvision.py rebuilds it)."""
    arch, variants = parse(name)
    torch.manual_seed(0)
    model = Plain(builder(arch, variants)()).eval()
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
        s = input_size(name, size)
        x = torch.randn(1, 3, s, s)
        macs = count_macs(model, x)
        opts = {"opset_version": 13, "input_names": ["input"], "dynamic": "batch"}
        for v in parse(name)[1]:
            opts.update(VARIANTS.get(v, {}))
        outputs = ["output", "aux"] if "aux" in parse(name)[1] else ["output"]
        dims = {"none": {}, "batch": {0: "batch"}, "hw": {0: "batch", 2: "height", 3: "width"}}[opts.pop("dynamic")]
        with torch.no_grad():
            y = model(x)
        ranks = [t.dim() for t in (y if isinstance(y, tuple) else (y,))]
        # An output's dynamic axes are those it has (a classifier's [batch, classes] has no H and W).
        dynamic = {opts["input_names"][0]: dims, **{n: {a: d for a, d in dims.items() if a < r} for n, r in zip(outputs, ranks)}}
        dynamic = dynamic if dims else None
        path = os.path.join(out_dir, name + ".onnx")
        if opts.get("plain"):
            torch.onnx.export(model, x, path)
            outputs = [o.name for o in onnx.load(path, load_external_data=False).graph.output]
        else:
            torch.onnx.export(model, x, path, output_names=outputs, dynamic_axes=dynamic, **opts)
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump({"macs": macs, "input": [1, 3, s, s], "outputs": outputs}, f)


if __name__ == "__main__":
    main()
