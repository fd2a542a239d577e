#!/usr/bin/python3
"""Parity of clnn-train with PyTorch: same weights and batch give the same
logits, loss and parameter gradients (relative L2 <= 1e-4), and after 20
AdamW steps the weights still agree closely.

    /usr/bin/python3 examples/parity_fmnist.py --bench build/examples/clnn-train [--batch 32]

Runs `clnn-train --parity DIR` (initial weights, 20 batches, first-step
logits/loss/gradients, weights after 20 steps), then replays it with the
PyTorch twin in examples/train_fmnist.py. Needs python3-torch. The record goes
to a temporary folder, removed at the end, unless --dir keeps it.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_f32  # noqa: E402
from train_fmnist import Net, load_checkpoint, make_optimizer  # noqa: E402


def rel_l2(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    d = (a - b).norm().item()
    n = b.norm().item()
    return d / n if n > 0 else d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/examples/clnn-train")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--dir", help="keep the parity record here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.dir:
        return check(args, args.dir)
    with tempfile.TemporaryDirectory(prefix="clnn-parity-") as out:
        return check(args, out)


def check(args, out):
    """Record the run in out, replay it in PyTorch; the exit status."""
    subprocess.run([args.bench, "--parity", out, "--batch", str(args.batch), "--lr", str(args.lr), "--wd",
                    str(args.wd), "--label-smoothing", str(args.label_smoothing)], check=True)
    batches = safetensors_f32.read(os.path.join(out, "batches.safetensors"), "torch")
    step0 = safetensors_f32.read(os.path.join(out, "step0.safetensors"), "torch")
    final = safetensors_f32.read(os.path.join(out, "final.safetensors"), "torch")
    xs, ys = batches["x"], batches["labels"].long()

    net = Net().double()
    load_checkpoint(net, os.path.join(out, "init.safetensors"))
    net.train()
    # Step 0 in double precision: the reference the float32 libclnn run is measured against.
    logits = net(xs[0].double())
    loss = F.cross_entropy(logits, ys[0], label_smoothing=args.label_smoothing)
    loss.backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    total = torch.cat([g.double().flatten() for g in grads.values()]).norm().item()
    # A bias right before a batch norm (e.g. each block's projection BN bias,
    # followed by the next block's conv and BN) has an analytically zero
    # gradient: both sides hold only rounding noise there, so those tensors
    # are compared in absolute terms against the whole gradient's norm.
    noise_only = {n for n, g in grads.items() if g.double().norm().item() <= 1e-7 * total}
    worst = [("logits", rel_l2(step0["logits"], logits.detach())), ("loss", rel_l2(step0["loss"], loss.detach()))]
    for name, g in grads.items():
        if name not in noise_only:
            worst.append(("grad " + name, rel_l2(step0["grad." + name], g)))
    noise = max([(step0["grad." + n].double() - grads[n]).norm().item() / total for n in noise_only] or [0.0])
    worst.sort(key=lambda t: -t[1])
    print("first step, libclnn (float32) against PyTorch (float64), relative L2:")
    for name, e in worst[:8]:
        print("  %-40s %.3g" % (name, e))
    ok = worst[0][1] <= args.tol and noise <= args.tol
    print("  worst of %d tensors: %.3g (%s); %d tensors with an analytically zero gradient differ by %.3g of "
          "the whole gradient's norm -> %s" % (len(worst), worst[0][1], worst[0][0], len(noise_only), noise,
                                              "pass" if ok else "FAIL"))

    # 20 AdamW steps in float32, as libclnn runs them.
    net = Net()
    load_checkpoint(net, os.path.join(out, "init.safetensors"))
    net.train()
    opt = make_optimizer(net, args.lr, args.wd)
    for s in range(xs.shape[0]):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(xs[s]), ys[s], label_smoothing=args.label_smoothing).backward()
        opt.step()
    # Adam turns even rounding-noise gradients into full-size steps, so the
    # tensors whose true gradient is zero (above) follow their noise on each
    # side: they are left out of the weight comparison and counted. The BN
    # running means downstream of them shift with them (harmlessly: a batch
    # norm removes constant shifts), so running statistics are shown apart.
    params = dict(net.named_parameters())
    errs = sorted(((rel_l2(final[n], t), n) for n, t in params.items() if n not in noise_only), reverse=True)
    print("after %d AdamW steps, weights (%d tensors; %d noise-driven ones left out), relative L2: worst %.3g "
          "(%s), median %.3g" % (xs.shape[0], len(errs), len(noise_only), errs[0][0], errs[0][1],
                                 errs[len(errs) // 2][0]))
    stats = sorted(((rel_l2(final[n], t), n) for n, t in net.state_dict().items()
                    if n in final and n not in params), reverse=True)
    var = [e for e in stats if e[1].endswith("running_var")]
    print("  BN running variances: worst %.3g (%s); running means: worst %.3g (%s)" % (
        var[0][0], var[0][1], *[e for e in stats if e[1].endswith("running_mean")][0]))
    ok2 = errs[0][0] <= 1e-3
    print("  -> %s (weights within 1e-3)" % ("pass" if ok2 else "FAIL"))
    return 0 if ok and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
