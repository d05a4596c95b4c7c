"""Rebuilds a torchvision model NARROWER in PyTorch from the channels a PruneLens plan keeps, as Torch-Pruning
would (Torch-Pruning itself is not installable here): every pruned Conv2d / Linear / BatchNorm2d / LayerNorm
(ConvNeXt's LayerNorm and LayerNorm2d) is replaced by a smaller module, ConvNeXt's layer scale is sliced, the original state_dict is sliced to the kept channels and loaded strictly, and the narrow
network runs on the given input through torchvision's own forward (residual adds, concatenations, resizes).
The ONNX peer test compares its output with PruneLens's pruned ONNX in onnxruntime.

usage: /usr/bin/python3 narrow_torchvision.py NAME KEEP_JSON INPUT_F32 OUTPUT_F32
KEEP_JSON: {"input": [1, 3, H, W], "layers": {ONNX node name: {"out": [...], "in": [...], "through": [...]}}}
(kept positions per weight axis, PruneLens's coupling). INPUT_F32 / OUTPUT_F32: raw little-endian float32.
Prints one JSON line: {"narrowed": modules replaced, "params": parameters of the narrow model}.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision import build  # noqa: E402  (the same seeded weights the export used)


def resolve(model, node_name):
    """ONNX node '/m/layer1/layer1.0/conv1/Conv' → module name 'm.layer1.0.conv1' (None if no such module).
    PyTorch 1.13 names a scope by the child's name, qualified by its parent's scope ('layer1.0' under 'layer1',
    'backbone.0.0' under 'backbone.0'); a child inside a container is named by its path from the scope's module
    ('convs.0' under 'classifier.0': DeepLabV3's ASPP.convs[0])."""
    parts = node_name.strip('/').split('/')[:-1]
    mod, path, scope = model, [], ''
    for part in parts:
        rel = part[len(scope) + 1:] if scope and part.startswith(scope + '.') else None
        for cand in ([rel] if rel else []) + [part]:
            found, m = [], mod
            for step in cand.split('.'):
                children = dict(m.named_children())
                if step not in children:
                    break
                m = children[step]
                found.append(step)
            else:
                mod, path, scope = m, path + found, part
                break
        else:
            return None
    return '.'.join(path)


def set_module(model, name, new):
    parent, _, attr = name.rpartition('.')
    setattr(model.get_submodule(parent) if parent else model, attr, new)


def bn_after_conv(model, x):
    """BatchNorm2d name → the Conv2d whose output it normalises (the export folds those into the convolution)."""
    conv_out, pairs, hooks = {}, {}, []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=name: conv_out.__setitem__(o.data_ptr(), (n, o))))
        elif isinstance(m, torch.nn.BatchNorm2d):
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=name: pairs.__setitem__(n, conv_out.get(i[0].data_ptr(), (None,))[0])))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return pairs


def narrow_norms(model, layers, sd):
    """LayerNorms (a LayerNormalization node at opset 17; its scale Mul and bias Add at opset 13) and ConvNeXt's
    layer scale (the block's Mul) keep the channels PruneLens slices them by ('through'). A LayerNorm then
    normalises over the kept channels only, as the pruned ONNX does."""
    done, narrowed = {}, 0
    for node, k in layers.items():
        keep = k.get('through')
        mname = resolve(model, node) if keep is not None else None
        if mname is None:
            continue
        m = model.get_submodule(mname)
        if isinstance(m, torch.nn.LayerNorm):
            if mname in done:
                assert done[mname] == keep, f'{node}: LayerNorm {mname} sliced two ways'
                continue
            done[mname] = keep
            for p in ('weight', 'bias'):
                sd[f'{mname}.{p}'] = sd[f'{mname}.{p}'][keep]
            set_module(model, mname, type(m)(len(keep), eps=m.eps, elementwise_affine=m.elementwise_affine))
            narrowed += 1
        elif node.endswith('/Mul') and isinstance(getattr(m, 'layer_scale', None), torch.nn.Parameter):
            sd[f'{mname}.layer_scale'] = sd[f'{mname}.layer_scale'][keep]
            m.layer_scale = torch.nn.Parameter(sd[f'{mname}.layer_scale'].clone())
            narrowed += 1
    return narrowed


def main():
    name, keep_file, in_file, out_file = sys.argv[1:5]
    spec = json.load(open(keep_file))
    torch.set_num_threads(1)
    model = build(name)
    x = torch.frombuffer(bytearray(open(in_file, 'rb').read()), dtype=torch.float32).reshape(spec['input'])
    bn_of = bn_after_conv(model, x)
    sd = model.state_dict()
    kept_out = {}
    narrowed = 0
    for node, k in spec['layers'].items():
        if not node.endswith(('/Conv', '/Gemm', '/MatMul')):
            continue  # a Linear's bias Add, BatchNorm statistics …: sliced with their module below
        mname = resolve(model, node)
        if mname is None:
            sys.exit(f'{node}: no module of that name in {name}')
        m = model.get_submodule(mname)
        if isinstance(m, torch.nn.Conv2d):
            out_keep = k.get('out') or k.get('through') or list(range(m.out_channels))
            depthwise = m.groups > 1 and m.groups == m.in_channels == m.out_channels
            groups = len(out_keep) if depthwise else m.groups
            if m.groups > 1 and not depthwise:
                # A grouped convolution that keeps the width (ResNeXt, RegNet) keeps its group count: the plan
                # removes the same positions from every group, and the kernel's input axis keeps those positions.
                if m.in_channels != m.out_channels or len(out_keep) % m.groups:
                    sys.exit(f'{mname}: grouped convolution (groups={m.groups}) pruned unevenly: {len(out_keep)} kept')
                in_keep = k.get('in') or list(range(m.in_channels // m.groups))
                width = len(out_keep)
            else:
                in_keep = out_keep if depthwise else (k.get('in') or list(range(m.in_channels)))
                width = len(in_keep)
            w = sd[mname + '.weight'][out_keep]
            sd[mname + '.weight'] = w if depthwise else w[:, in_keep]
            new = torch.nn.Conv2d(width, len(out_keep), m.kernel_size, m.stride, m.padding, m.dilation,
                                  groups, m.bias is not None, m.padding_mode)
        elif isinstance(m, torch.nn.Linear):
            out_keep = k.get('out') or list(range(m.out_features))
            in_keep = k.get('in') or list(range(m.in_features))
            sd[mname + '.weight'] = sd[mname + '.weight'][out_keep][:, in_keep]
            new = torch.nn.Linear(len(in_keep), len(out_keep), m.bias is not None)
        else:
            continue
        if m.bias is not None:
            sd[mname + '.bias'] = sd[mname + '.bias'][out_keep]
        kept_out[mname] = out_keep
        set_module(model, mname, new)
        narrowed += 1
    narrowed += narrow_norms(model, spec['layers'], sd)
    for bn, conv in bn_of.items():
        if conv in kept_out:
            keep = kept_out[conv]
            for p in ('weight', 'bias', 'running_mean', 'running_var'):
                sd[f'{bn}.{p}'] = sd[f'{bn}.{p}'][keep]
            old = model.get_submodule(bn)
            set_module(model, bn, torch.nn.BatchNorm2d(len(keep), eps=old.eps, momentum=old.momentum))
            narrowed += 1
    model.load_state_dict(sd, strict=True)
    model.eval()
    with torch.no_grad():
        y = model(x)
    # Every output in order ('out' then 'aux' for a two-output segmentation export), flattened and joined.
    ys = y if isinstance(y, tuple) else (y,)
    open(out_file, 'wb').write(b''.join(t.contiguous().numpy().astype('<f4').tobytes() for t in ys))
    print(json.dumps({'narrowed': narrowed, 'params': sum(p.numel() for p in model.parameters())}))


if __name__ == '__main__':
    main()
