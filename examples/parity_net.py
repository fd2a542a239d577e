#!/usr/bin/env python3
"""Parity of clnn-net with torchvision: the same network, the same numbers.

For each model, builds torchvision's network with a fixed seed, exports its
state_dict to safetensors, and runs clnn-net on it:
  * inference: the logits of one eval-mode forward, against torchvision's in
    float64 (relative L2 error <= 1e-4), with random batch-norm statistics
    and DCN offsets (perturb_for_inference) so that folding and sampling
    are exercised;
  * training: 5 SGD steps (momentum, weight decay on conv and linear weights
    only, dropout off) on one batch; the logits of the first (train-mode)
    forward (<= 1e-4), then all the weights, all the BN running statistics
    (relative L2 <= 1e-4 each) and all the weights' change over the 5 steps
    (<= 1e-2, a finer check: the change is small against the weights),
    against torchvision's in float64.
    Some of these tiny-batch runs are chaotic: PyTorch's own float32 run ends
    far from its float64 run (MobileNetV2 and the DCN ResNet at batch 4,
    64x64). Kinks decide it: a ReLU6 input within float32 error of 0, a
    max-pool tie, DCN offsets that start at exactly zero (so the second
    step's tiny offsets pick a side of the bilinear kink at integer
    positions). Batch norm over 16 values (2x2 maps, batch 4) then spreads
    one element's flip over every earlier layer. Which float32 code lands
    nearer float64 is luck there. Example, MobileNetV2's first step: one
    element of features.16's expansion is -1.5e-6 in float64; clnn-net's
    float32 value is on the other side of ReLU6's kink, so channel 875's
    bias gradient differs by 70% and every update before it by 2%, while
    PyTorch's float32 happens to stay on the same side.
    So where PyTorch's float32 error over the 5 steps exceeds
    WELL_CONDITIONED x a bar, the 5-step trajectory is printed but not
    judged, and the steps are checked one at a time (check_stepwise).
    PyTorch's float32 run is one draw of float32 noise, and can land near
    float64 where the trajectory is chaotic all the same (ResNet-18 here:
    float64 runs from starts perturbed by 16 float32 ulps end up to 5e-5
    (weights) and 2e-4 (BN statistics) from the unperturbed one, while
    PyTorch's float32 run ends 2e-7 and 5e-7 away). So where clnn-net misses
    a bar on the whole trajectory, NOISE_RUNS float64 runs from such
    perturbed starts (trajectory_noise) decide too: if they spread beyond
    WELL_CONDITIONED x a bar, the trajectory is chaotic and checked step by
    step instead:
      - clnn-net runs STEPS single steps (momentum 0), each from the
        weights and BN statistics the one before saved;
      - each lands within the bar of a float64 step from the same state,
        or within F32_FACTOR x what float32-sized noise costs that step:
        the largest error, against that float64 step, of PyTorch's float32
        step and of NOISE_RUNS float64 steps from the state times
        1 + 2^-20 u (u uniform in [-1, 1]; 16 float32 ulps), all from the
        same state;
      - one clnn-net process running all STEPS steps ends on the chain's
        bits, so nothing a process carries from step to step is missed.
    Where the trajectory is judged, the limit is the bar itself.

  * half precision (--precision f16,bf16): the inference logits of clnn-net
    --precision f16 / bf16 against torchvision's in float64. The bar is the
    larger of the type's tolerance (host/ref.h: 2e-3 float16, 1e-2 bfloat16)
    and HALF_FACTOR times the error of a float64 emulation of the same
    rounding points (conv and linear weights and the input rounded to the
    type, every layer's output rounded to it): what rounding alone costs
    this network, so a kernel that reads or writes a half tensor wrongly
    fails by orders of magnitude while the rounding noise of deep networks
    passes.

resnet18_dcn is resnet18 with layer3's and layer4's 3x3 convs replaced by
DeformConv below (torchvision.ops.deform_conv2d with a mask; the offset and
mask convs are zero at the start, as in the DCNv2 paper).

    /usr/bin/python3 examples/parity_net.py CLNN_NET [--models a,b] [--batch 2] [--size 64]

Needs python3-torch and python3-torchvision (Debian 12: 1.13 and 0.14).
Exit status 0 when every check holds.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.ops import deform_conv2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_f32  # noqa: E402

TOL = 1e-4
HALF_TOL = {"f16": 2e-3, "bf16": 1e-2}  # host/ref.h's clnn__ref_dtype_rel_l2
HALF_TYPES = {"f16": torch.float16, "bf16": torch.bfloat16}
HALF_FACTOR = 3
TOL_UPDATE = 1e-2
WELL_CONDITIONED = 0.25  # see the docstring: trajectories judged whole below this share of the bar
F32_FACTOR = 10  # a chaotic step's limit: this many times what float32-sized noise costs it
NOISE, NOISE_RUNS = 2.0 ** -20, 2  # relative noise of 16 float32 ulps on the state, in float64 runs
STEPS = 5
LR, MOMENTUM, WD = 0.01, 0.9, 1e-4


class DeformConv(nn.Module):
    """A modulated deformable 3x3 conv (DCNv2) in place of nn.Conv2d: weight
    is the main kernel; offset and mask are 3x3 convs with bias, zero at first."""

    def __init__(self, conv):
        super().__init__()
        self.stride = conv.stride
        self.weight = nn.Parameter(conv.weight.detach().clone())
        cin = conv.in_channels
        self.offset = nn.Conv2d(cin, 18, 3, conv.stride, 1)
        self.mask = nn.Conv2d(cin, 9, 3, conv.stride, 1)
        for c in (self.offset, self.mask):
            nn.init.zeros_(c.weight)
            nn.init.zeros_(c.bias)

    def forward(self, x):
        return deform_conv2d(x, self.offset(x), self.weight, stride=self.stride, padding=1,
                             mask=torch.sigmoid(self.mask(x)))


def build(name, seed):
    torch.manual_seed(seed)
    if name == "resnet18_dcn":
        m = torchvision.models.resnet18()
        for layer in (m.layer3, m.layer4):
            for block in layer:
                block.conv1 = DeformConv(block.conv1)
                block.conv2 = DeformConv(block.conv2)
        return m
    return getattr(torchvision.models, name)()


def perturb_for_inference(model, seed):
    """Give every batch norm non-trivial statistics and affine parameters, and
    the DCN offset/mask convs non-zero weights, so that the eval forward checks
    clnn-net's folding of batch norm into the conv before it, and deformable
    sampling at fractional offsets, not an identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.2, generator=g)
                m.running_mean.normal_(0.0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
            elif isinstance(m, DeformConv):
                m.offset.weight.normal_(0.0, 0.01, generator=g)
                m.mask.weight.normal_(0.0, 0.01, generator=g)
    return model


def write_safetensors(path, tensors):
    safetensors_f32.write(path, tensors)


def read_safetensors(path):
    return {k: v.astype(np.float64) for k, v in safetensors_f32.read(path).items()}


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(b)
    if not np.all(np.isfinite(a)):
        return float("inf")
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else float(np.linalg.norm(a))


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited with {r.returncode}")


def no_dropout(model):
    for mod in model.modules():
        if isinstance(mod, nn.Dropout) or type(mod).__name__ == "StochasticDepth":
            mod.p = 0.0


def sgd_groups(model, momentum):
    """Weight decay on conv and linear weights (>= 2-D), not BN or biases: clnn-net's groups."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.SGD([{"params": decay, "weight_decay": WD}, {"params": rest, "weight_decay": 0.0}],
                           lr=LR, momentum=momentum)


def train_torch(name, init, x, labels, dtype, steps=None, momentum=MOMENTUM):
    """steps (default STEPS) SGD steps of torchvision's model in dtype; its
    state_dict (float64 numpy) and the logits of the first, train-mode forward."""
    model = build(name, seed=7).to(dtype)
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in init.items()})
    model.train()
    no_dropout(model)
    opt = sgd_groups(model, momentum)
    xt, lt = torch.from_numpy(x).to(dtype), torch.from_numpy(labels).long()
    first = None
    for step in range(STEPS if steps is None else steps):
        opt.zero_grad()
        logits = model(xt)
        if step == 0:
            first = logits.detach().double().numpy()
        nn.functional.cross_entropy(logits, lt).backward()
        opt.step()
    return {k: v.double().numpy() for k, v in model.state_dict().items()}, first


def flat(d, keys, base=None):
    return np.concatenate([(d[k] - (base[k] if base else 0)).ravel() for k in keys])


def rounded_forward(model, x, dtype):
    """model (float64, eval) on x with libclnn's half-precision rounding
    points emulated: conv and linear weights and biases and the input rounded
    to dtype, each leaf module's output rounded to dtype (batch norm's
    parameters and statistics stay as they are, as in clnn-net)."""
    def rnd(t):
        return t.to(dtype).double()
    m = model
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear, DeformConv)):
                for p in mod.parameters(recurse=False):
                    p.copy_(rnd(p))
    hooks = [mod.register_forward_hook(lambda _m, _i, out: rnd(out))
             for mod in m.modules() if len(list(mod.children())) == 0 or isinstance(mod, DeformConv)]
    try:
        with torch.no_grad():
            return m(rnd(torch.from_numpy(x).double())).numpy()
    finally:
        for h in hooks:
            h.remove()


def check_half(clnn_net, name, precision, epath, xpath, x, want, tmp):
    ypath = os.path.join(tmp, "y-half.npy")
    run([clnn_net, "--model", name, "--weights", epath, "--input", xpath, "--save-logits", ypath,
         "--precision", precision, "--steps", "1", "--warmup", "0", "--no-profile", "--quiet"])
    e = rel(np.load(ypath), want)
    model = perturb_for_inference(build(name, seed=7), seed=11).double().eval()
    e_emul = rel(rounded_forward(model, x, HALF_TYPES[precision]), want)
    limit = max(HALF_TOL[precision], HALF_FACTOR * e_emul)
    print(f"{name:16s} infer logits {precision:4s}        rel L2 {e:.2e} (float64 emulation of the rounding: "
          f"{e_emul:.2e}; limit {limit:.1e})")
    return [] if e <= limit else [f"{name} infer logits in {precision}: {e:.2e} > {limit:.1e}"]


def check_model(clnn_net, name, batch, size, tmp, precisions, train=True):
    failures = []
    model = build(name, seed=7)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    wpath = os.path.join(tmp, f"{name}.safetensors")
    write_safetensors(wpath, init)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    labels = rng.integers(0, 1000, batch).astype(np.int32)
    xpath, lpath = os.path.join(tmp, "x.npy"), os.path.join(tmp, "labels.npy")
    np.save(xpath, x)
    np.save(lpath, labels)

    # inference
    ypath = os.path.join(tmp, "y.npy")
    ref = perturb_for_inference(build(name, seed=7), seed=11)
    epath = os.path.join(tmp, f"{name}-eval.safetensors")
    write_safetensors(epath, ref.state_dict())
    run([clnn_net, "--model", name, "--weights", epath, "--input", xpath, "--save-logits", ypath,
         "--steps", "1", "--warmup", "0", "--no-profile", "--quiet"])
    ref = ref.double().eval()
    with torch.no_grad():
        want = ref(torch.from_numpy(x).double()).numpy()
    e = rel(np.load(ypath), want)
    print(f"{name:16s} infer logits             rel L2 {e:.2e}")
    if not e <= TOL:
        failures.append(f"{name} infer logits {e:.2e}")
    for p in precisions:
        failures += check_half(clnn_net, name, p, epath, xpath, x, want, tmp)
    if not train:
        return failures

    # training: STEPS SGD steps on one batch
    out = os.path.join(tmp, f"{name}-trained.safetensors")
    got = clnn_train(clnn_net, name, wpath, xpath, lpath, out, STEPS, MOMENTUM, ypath)
    ref64, logits64 = train_torch(name, init, x, labels, torch.float64)
    ref32, _ = train_torch(name, init, x, labels, torch.float32)
    e = rel(np.load(ypath), logits64)
    print(f"{name:16s} train-mode logits        rel L2 {e:.2e}")
    if not e <= TOL:
        failures.append(f"{name} train-mode logits {e:.2e}")
    params = [k for k in ref64 if k in dict(build(name, seed=7).named_parameters())]
    stats = [k for k in ref64 if "running_" in k]
    missing = [k for k in params + stats if k not in got]
    if missing:
        return failures + [f"{name}: clnn-net saved no {missing[0]} (and {len(missing) - 1} more)"]
    start = {k: v.double().numpy() for k, v in init.items()}
    checks = [(what, keys, base, TOL if what != "weight updates" else TOL_UPDATE)
              for what, keys, base in (("weights", params, None), ("BN running stats", stats, None),
                                       ("weight updates", params, start))]
    e32s = [rel(flat(ref32, keys, base), flat(ref64, keys, base)) for _, keys, base, _ in checks]
    judged = all(e32 <= WELL_CONDITIONED * bar for e32, (_, _, _, bar) in zip(e32s, checks))
    errs = [rel(flat(got, keys, base), flat(ref64, keys, base)) for _, keys, base, _ in checks]
    if judged and any(not e <= bar for e, (_, _, _, bar) in zip(errs, checks)):
        # PyTorch's float32 run is one draw of float32 noise; before failing,
        # ask the trajectory itself: float64 runs from the state times
        # 1 + 2^-20 u (as check_stepwise's noise)
        spread = trajectory_noise(name, init, x, labels, checks, ref64)
        for (what, _, _, bar), sp in zip(checks, spread):
            print(f"{name:16s} after {STEPS} steps, {what:17s} float64 from a 16-ulp noisy start: rel L2 {sp:.2e}")
        judged = all(sp <= WELL_CONDITIONED * bar for sp, (_, _, _, bar) in zip(spread, checks))
    for (what, keys, base, bar), e32, e in zip(checks, e32s, errs):
        verdict = f"limit {bar:.0e}" if judged else "chaotic: not judged, see each step alone"
        print(f"{name:16s} after {STEPS} steps, {what:17s} rel L2 {e:.2e} (torch float32: {e32:.2e}; {verdict})")
        if judged and not e <= bar:
            failures.append(f"{name} {what} after {STEPS} steps: {e:.2e} > {bar:.0e}")
    for k in ref64:
        if k.endswith("num_batches_tracked") and k in got and int(got[k]) != int(ref64[k]):
            failures.append(f"{name} {k}: {int(got[k])} != {int(ref64[k])}")
    if not judged:
        failures += check_stepwise(clnn_net, name, init, x, labels, (xpath, lpath, wpath), tmp, checks)
    return failures


def trajectory_noise(name, init, x, labels, checks, ref64):
    """The largest error, per check, of NOISE_RUNS float64 STEPS-step runs
    from init times 1 + NOISE u against the float64 run from init: what
    float32-sized noise at the start alone costs the whole trajectory."""
    spread = [0.0] * len(checks)
    for seed in range(NOISE_RUNS):
        run64, _ = train_torch(name, with_noise(init, seed), x, labels, torch.float64)
        for i, (_, keys, base, _) in enumerate(checks):
            spread[i] = max(spread[i], rel(flat(run64, keys, base), flat(ref64, keys, base)))
    return spread


def clnn_train(clnn_net, name, weights, xpath, lpath, out, steps, momentum, ypath=None):
    """steps SGD steps of clnn-net from the state_dict in weights; the state_dict it saves."""
    cmd = [clnn_net, "--model", name, "--mode", "train", "--weights", weights, "--input", xpath,
           "--labels", lpath, "--save-weights", out, "--steps", str(steps), "--warmup", "0",
           "--optim", "sgd", "--lr", str(LR), "--momentum", str(momentum), "--wd", str(WD),
           "--no-dropout", "--no-profile", "--quiet"]
    run(cmd + (["--save-logits", ypath] if ypath else []))
    return read_safetensors(out)


def check_stepwise(clnn_net, name, init, x, labels, paths, tmp, checks):
    """STEPS single steps of clnn-net (momentum 0), each from the state the
    one before saved, each against a float64 step of torchvision's model from
    that same state, within the bar or F32_FACTOR x what float32-sized noise
    costs that step (see the docstring); then the same STEPS steps in one
    process, which must end on the chain's bits."""
    xpath, lpath, wpath = paths
    failures, worst = [], {}
    prev_path, prev = wpath, {k: v.double().numpy() for k, v in init.items()}
    for step in range(1, STEPS + 1):
        path = os.path.join(tmp, f"{name}-step{step}.safetensors")
        got = clnn_train(clnn_net, name, prev_path, xpath, lpath, path, 1, 0.0)
        state = {k: torch.from_numpy(prev[k]).reshape(v.shape) if v.is_floating_point() else v
                 for k, v in init.items()}
        want, _ = train_torch(name, state, x, labels, torch.float64, steps=1, momentum=0.0)
        noisy = [train_torch(name, state, x, labels, torch.float32, steps=1, momentum=0.0)[0]]
        for seed in range(NOISE_RUNS):
            noisy.append(train_torch(name, with_noise(state, seed), x, labels, torch.float64, steps=1,
                                     momentum=0.0)[0])
        for what, keys, base, bar in checks:
            b = base and prev
            e = rel(flat(got, keys, b), flat(want, keys, b))
            noise = max(rel(flat(n, keys, b), flat(want, keys, b)) for n in noisy)
            limit = max(bar, F32_FACTOR * noise)
            w = worst.setdefault(what, [0.0, 0.0, 0.0])
            w[:] = max(w[0], e), max(w[1], noise), max(w[2], limit)
            if not e <= limit:
                failures.append(f"{name} step {step} alone, {what}: {e:.2e} > {limit:.1e} "
                                f"(float32-sized noise: {noise:.2e})")
        prev_path, prev = path, got
    for what, _, _, _ in checks:
        e, noise, limit = worst[what]
        print(f"{name:16s} each step alone, {what:17s} rel L2 <= {e:.2e} (float32-sized noise: <= {noise:.2e}; "
              f"limit <= {limit:.1e})")
    whole = clnn_train(clnn_net, name, wpath, xpath, lpath, os.path.join(tmp, f"{name}-whole.safetensors"),
                       STEPS, 0.0)
    same = all(np.array_equal(whole[k], prev[k]) for k in prev)
    print(f"{name:16s} {STEPS} steps in one process end on the chain's bits: {'yes' if same else 'NO'}")
    if not same:
        failures.append(f"{name}: {STEPS} steps in one process differ from {STEPS} single steps")
    return failures


def with_noise(state, seed):
    """state's floating tensors (float64) times 1 + NOISE u, u uniform in [-1, 1)."""
    g = torch.Generator().manual_seed(1000 + seed)
    return {k: v * (1 + NOISE * (2 * torch.rand(v.shape, generator=g, dtype=torch.float64) - 1))
            if v.is_floating_point() else v for k, v in state.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clnn_net")
    ap.add_argument("--models", default="resnet18,mobilenet_v2,efficientnet_b0,resnet18_dcn")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="training steps (5)")
    ap.add_argument("--precision", default="", help="also check inference in these types (f16,bf16)")
    ap.add_argument("--no-train", action="store_true", help="inference checks only")
    a = ap.parse_args()
    bad = [p for p in a.precision.split(",") if p and p not in HALF_TYPES]
    if bad:
        ap.error(f"--precision takes f16 and bf16, not {bad[0]}")
    global STEPS
    STEPS = a.steps
    torch.set_num_threads(2)
    failures = []
    with tempfile.TemporaryDirectory(prefix="clnn-parity-net-") as tmp:
        for name in a.models.split(","):
            failures += check_model(a.clnn_net, name, a.batch, a.size, tmp,
                                    [p for p in a.precision.split(",") if p], not a.no_train)
    for f in failures:
        print("FAIL:", f)
    print("parity_net:", "ok" if not failures else f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
