"""PyTorch equivalents of the clnn-bench loss families "xent", "softacc" and
"infonce" (compare.py finds them through FAMILIES), and a check that
clnn-bench computes the same losses and gradients:

    /usr/bin/python3 bench/torch/loss.py --bench build/bench/clnn-bench

runs every problem of bench/inputs/loss (plus a few more) through
`clnn-bench --mode=R` on random .npy inputs and compares loss and gradients
with the PyTorch definitions below.

Definitions (the ones include/clnn.h documents):
  xent     F.cross_entropy(logits, labels, label_smoothing=e, ignore_index=i)
  softacc  1 - mean over non-ignored positions of softmax(logits, dim=1)[label]
  infonce  SimCLR's NT-Xent (Chen et al. 2020): u = F.normalize(cat(z1, z2)),
           s = u u^T / t with the diagonal excluded, the positive of row i is
           row (i + n) mod 2n, cross-entropy averaged over the 2n rows;
           with "cross", CLIP's symmetric cross-view InfoNCE.
The "bwd" pass times loss and gradient together (clnn computes both in one
call); "fwd" the loss alone.
"""
import torch
import torch.nn.functional as F

FAMILIES = ("xent", "softacc", "infonce")


def xent(logits, labels, smooth=0.0, ignore=-100):
    return F.cross_entropy(logits, labels, label_smoothing=smooth, ignore_index=ignore)


def softacc(logits, labels, ignore=-100):
    valid = labels != ignore
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    p = F.softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
    return 1.0 - p[valid].sum() / valid.sum()


def infonce(z1, z2, t, cross=False):
    n = z1.shape[0]
    if cross:
        u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        s = u1 @ u2.T / t
        target = torch.arange(n)
        return 0.5 * (F.cross_entropy(s, target) + F.cross_entropy(s.T, target))
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    s = (u @ u.T / t).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n) + n, torch.arange(n)])
    return F.cross_entropy(s, target)


def _class_inputs(keys):
    n, c = keys["mb"], keys["nc"]
    shape = (n, c) if "ih" not in keys else (n, c, keys["ih"], keys.get("iw", keys["ih"]))
    logits = 3.0 * torch.randn(*shape)
    labels = torch.randint(0, c, (shape[0],) + shape[2:])
    if "ignore" in keys:
        flat = labels.view(-1)
        flat[3::7] = keys["ignore"]
    return logits, labels


def _timed(loss_fn, inputs, pass_, gs=1.0):
    if pass_ == "fwd":
        return lambda: loss_fn(*inputs)
    if pass_ == "bwd":
        leaves = [x.clone().requires_grad_() for x in inputs if x.is_floating_point()]
        others = [x for x in inputs if not x.is_floating_point()]
        g = torch.tensor(gs)

        def run():
            loss = loss_fn(*leaves, *others)
            return (loss,) + torch.autograd.grad(loss, leaves, g)
        run.no_grad = False
        return run
    return None


def make_xent(keys, flags, bias, pass_):
    logits, labels = _class_inputs(keys)
    smooth, ignore = float(keys.get("smooth", 0.0)), int(keys.get("ignore", -100))
    return _timed(lambda z, y: xent(z, y, smooth, ignore), [logits, labels], pass_, float(keys.get("gs", 1.0)))


def make_softacc(keys, flags, bias, pass_):
    logits, labels = _class_inputs(keys)
    ignore = int(keys.get("ignore", -100))
    return _timed(lambda z, y: softacc(z, y, ignore), [logits, labels], pass_, float(keys.get("gs", 1.0)))


def make_infonce(keys, flags, bias, pass_):
    n, d, t = keys["mb"], keys["d"], float(keys.get("t", 0.1))
    z1, z2 = torch.randn(n, d), torch.randn(n, d)
    return _timed(lambda a, b: infonce(a, b, t, "cross" in flags), [z1, z2], pass_, float(keys.get("gs", 1.0)))


def make_family(family, keys, flags, bias, pass_):
    return {"xent": make_xent, "softacc": make_softacc, "infonce": make_infonce}[family](keys, flags, bias, pass_)


# ------------------------------------------------------------ verification

def _verify(bench, descs):
    """Run each descriptor through clnn-bench --mode=R and compare with PyTorch in double."""
    import os
    import subprocess
    import tempfile

    import numpy as np
    from descriptor import parse

    worst = 0.0
    for desc in descs:
        family, keys, flags, _ = parse(desc)
        torch.manual_seed(0)
        with tempfile.TemporaryDirectory() as dirname:
            if family == "infonce":
                z1, z2 = torch.randn(keys["mb"], keys["d"]), torch.randn(keys["mb"], keys["d"])
                np.save(os.path.join(dirname, "z1.npy"), z1.numpy())
                np.save(os.path.join(dirname, "z2.npy"), z2.numpy())
                leaves = [z1.double().requires_grad_(), z2.double().requires_grad_()]
                loss = infonce(*leaves, float(keys.get("t", 0.1)), "cross" in flags)
                names = ["dz1", "dz2"]
            else:
                logits, labels = _class_inputs(keys)
                np.save(os.path.join(dirname, "logits.npy"), logits.numpy())
                np.save(os.path.join(dirname, "labels.npy"), labels.numpy().astype(np.int32))
                leaves = [logits.double().requires_grad_()]
                ignore = int(keys.get("ignore", -100))
                if family == "xent":
                    loss = xent(leaves[0], labels, float(keys.get("smooth", 0.0)), ignore)
                else:
                    loss = softacc(leaves[0], labels, ignore)
                names = ["dlogits"]
            grads = torch.autograd.grad(loss, leaves, torch.tensor(float(keys.get("gs", 1.0)), dtype=torch.double))
            subprocess.run([bench, "--mode=R", "--pass=bwd", "--quiet", "--dir", dirname, desc], check=True)
            errs = [abs(float(np.load(os.path.join(dirname, "loss.npy"))[0]) - loss.item()) / max(abs(loss.item()), 1e-30)]
            for name, g in zip(names, grads):
                got = torch.from_numpy(np.load(os.path.join(dirname, name + ".npy"))).double()
                errs.append(((got - g).norm() / g.norm().clamp_min(1e-30)).item())
        worst = max(worst, max(errs))
        print("%-44s loss %.8g  rel err: loss %.2e, %s" % (
            desc, loss.item(), errs[0], ", ".join("%s %.2e" % (n, e) for n, e in zip(names, errs[1:]))))
    print("worst relative error %.2e" % worst)
    return worst


if __name__ == "__main__":
    import argparse
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description="compare clnn-bench losses with PyTorch")
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    problems = [
        "xent mb128nc10", "xent mb128nc10 smooth=0.1", "xent mb4nc5ih3iw6 ignore=-1 smooth=0.2",
        "xent mb256nc1000 smooth=0.1 gs=0.5", "softacc mb128nc10", "softacc mb3nc7ih5 ignore=2",
        "infonce mb256d128 t=0.1", "infonce mb64d32 t=0.5", "infonce mb32d128 t=0.07 cross gs=2",
    ]
    sys.exit(0 if _verify(args.bench, problems) <= args.tol else 1)
