"""Runs a PyTorch model source after PruneLens' quick fixes: constructs the module, loads the pruned TF.js
model's weights into it (strict: every shape must match), runs it on the given input and writes the output.

usage: check_module.py SOURCE CLASS WEIGHTS_DIR
WEIGHTS_DIR/manifest.json: {"input": [N, C, H, W], "params": [{"name", "file", "shape", "layout"}]} where
layout says how the TF.js tensor (raw little-endian float32 in `file`) becomes the PyTorch one.
Writes WEIGHTS_DIR/output.bin (float32, NCHW / NC) and prints a JSON line with the shapes it saw.
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch

source, cls, wdir = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("pruned_source", source)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
model = getattr(mod, cls)()
manifest = json.load(open(os.path.join(wdir, "manifest.json")))
state = {}
for p in manifest["params"]:
    a = np.fromfile(os.path.join(wdir, p["file"]), dtype="<f4").reshape(p["shape"])
    if p["layout"] in ("conv", "convT"):  # TF HWIO / HW(out)(in) → torch OIHW / (in)(out)HW
        a = a.transpose(3, 2, 0, 1)
    elif p["layout"] == "dense":  # TF (in, out) → torch (out, in)
        a = a.T
    state[p["name"]] = torch.from_numpy(np.ascontiguousarray(a))
own = model.state_dict()
for k, v in own.items():
    if k.endswith("num_batches_tracked"):
        state[k] = v
model.load_state_dict(state, strict=True)
model.eval()
x = np.fromfile(os.path.join(wdir, "input.bin"), dtype="<f4").reshape(manifest["input"])
with torch.no_grad():
    y = model(torch.from_numpy(x)).numpy().astype("<f4")
y.tofile(os.path.join(wdir, "output.bin"))
print(json.dumps({"output": list(y.shape), "params": {k: list(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}}))
