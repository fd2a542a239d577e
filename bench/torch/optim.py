"""PyTorch twins of the clnn-bench optimizer families, timed by compare.py.

    adamw / adam  torch.optim.AdamW / Adam with PyTorch's default foreach
                  setting, state created by one untimed step (as
                  the anchor suite's PyTorch script does), then opt.step
    sgd           torch.optim.SGD (momentum buffers created the same way)
    ema           ema.lerp_(p, 1 - decay) over the list
    clip_grad_norm  torch.nn.utils.clip_grad_norm_(params, max_norm)

n and tensors= split the parameters exactly as bench/bench_optim.c does
(tensors=resnet50: the 161 ResNet-50 sizes of the project's anchor suite,
scaled to add up to n). Keys without a PyTorch counterpart in these classes
(scale, skip) make the twin return None: those problems are not compared.
compare.py finds this module through FAMILIES and calls make_family().

Run as a script it checks clnn-bench's R mode against torch.optim:
    /usr/bin/python3 bench/torch/optim.py build/bench/clnn-bench
"""
import torch

FAMILIES = ("adamw", "adam", "sgd", "ema", "clip_grad_norm")

RESNET50 = [
    9408, 64, 64, 4096, 64, 64, 36864, 64, 64, 16384, 256, 256, 16384, 256, 256, 16384, 64, 64,
    36864, 64, 64, 16384, 256, 256, 16384, 64, 64, 36864, 64, 64, 16384, 256, 256, 32768, 128, 128,
    147456, 128, 128, 65536, 512, 512, 131072, 512, 512, 65536, 128, 128, 147456, 128, 128, 65536,
    512, 512, 65536, 128, 128, 147456, 128, 128, 65536, 512, 512, 65536, 128, 128, 147456, 128,
    128, 65536, 512, 512, 131072, 256, 256, 589824, 256, 256, 262144, 1024, 1024, 524288, 1024,
    1024, 262144, 256, 256, 589824, 256, 256, 262144, 1024, 1024, 262144, 256, 256, 589824, 256,
    256, 262144, 1024, 1024, 262144, 256, 256, 589824, 256, 256, 262144, 1024, 1024, 262144, 256,
    256, 589824, 256, 256, 262144, 1024, 1024, 262144, 256, 256, 589824, 256, 256, 262144, 1024,
    1024, 524288, 512, 512, 2359296, 512, 512, 1048576, 2048, 2048, 2097152, 2048, 2048, 1048576,
    512, 512, 2359296, 512, 512, 1048576, 2048, 2048, 1048576, 512, 512, 2359296, 512, 512,
    1048576, 2048, 2048, 2048000, 1000,
]
RESNET50_NUMEL = 25557032
assert len(RESNET50) == 161 and sum(RESNET50) == RESNET50_NUMEL


def split(keys):
    """The list's tensor sizes (bench_optim.c: resnet50_split, split_list)."""
    n = keys.get("n")
    t = keys.get("tensors", 1)
    if t == "resnet50":
        if n is None:
            n = RESNET50_NUMEL
        sizes, cum, prev = [], 0, 0
        for s in RESNET50:
            cum += s
            b = (cum * n + RESNET50_NUMEL // 2) // RESNET50_NUMEL
            sizes.append(b - prev)
            prev = b
        return sizes
    k = int(t)
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _params(keys):
    params = []
    for s in split(keys):
        p = torch.randn(s).requires_grad_(True)
        p.grad = torch.randn(s)
        params.append(p)
    return params


def _comparable(keys, pass_):
    return pass_ == "step" and not keys.get("skip") and keys.get("scale", 1) == 1


def _adam(cls, wd_default, keys, pass_):
    if not _comparable(keys, pass_):
        return None
    opt = cls(_params(keys), lr=keys.get("lr", 1e-3), betas=(keys.get("beta1", 0.9), keys.get("beta2", 0.999)),
              eps=keys.get("eps", 1e-8), weight_decay=keys.get("wd", wd_default),
              amsgrad=bool(keys.get("amsgrad", 0)), maximize=bool(keys.get("maximize", 0)))
    opt.step()  # creates exp_avg / exp_avg_sq (not timed)
    return opt.step


def make_adamw(keys, flags, bias, pass_):
    return _adam(torch.optim.AdamW, 0.01, keys, pass_)


def make_adam(keys, flags, bias, pass_):
    return _adam(torch.optim.Adam, 0.0, keys, pass_)


def make_sgd(keys, flags, bias, pass_):
    if not _comparable(keys, pass_):
        return None
    opt = torch.optim.SGD(_params(keys), lr=keys.get("lr", 0.01), momentum=keys.get("momentum", 0),
                          dampening=keys.get("dampening", 0), weight_decay=keys.get("wd", 0),
                          nesterov=bool(keys.get("nesterov", 0)), maximize=bool(keys.get("maximize", 0)))
    opt.step()  # creates the momentum buffers (not timed)
    return opt.step


def make_ema(keys, flags, bias, pass_):
    if pass_ != "step":
        return None
    sizes = split(keys)
    ema = [torch.randn(s) for s in sizes]
    params = [torch.randn(s) for s in sizes]
    w = 1.0 - keys.get("decay", 0.999)

    def run():
        for e, p in zip(ema, params):
            e.lerp_(p, w)
    return run


def make_clip_grad_norm(keys, flags, bias, pass_):
    if pass_ != "step":
        return None
    params = _params(keys)
    max_norm = keys.get("max_norm", 1.0)
    n = sum(p.numel() for p in params)
    for p in params:  # norm about 2 * max_norm, as bench_optim.c fills it
        p.grad.mul_(2.0 * max_norm / n ** 0.5)

    def run():
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    return run


def make_family(family, keys, flags, bias, pass_):
    """compare.py's entry point: the twin of one of FAMILIES."""
    return {"adamw": make_adamw, "adam": make_adam, "sgd": make_sgd, "ema": make_ema,
            "clip_grad_norm": make_clip_grad_norm}[family](keys, flags, bias, pass_)


# ------------------------------------------------------------------ check
# /usr/bin/python3 bench/torch/optim.py [build/bench/clnn-bench]
# runs clnn-bench R mode on random .npy files and the same steps with
# torch.optim, and prints the largest difference of the parameters.

def _check_one(bench, tmp, desc, ctor, steps, t=0, amsgrad=False, sgd=False, n=1003, seed=1):
    import os
    import subprocess
    import numpy as np
    r = np.random.default_rng(seed)
    p0, g = r.standard_normal(n).astype(np.float32), r.standard_normal(n).astype(np.float32)
    m0 = (0.1 * r.standard_normal(n)).astype(np.float32)
    v0 = (0.01 * r.random(n)).astype(np.float32)
    x0 = (v0 + 0.005 * r.random(n)).astype(np.float32)
    for name, a in (("param", p0), ("grad", g), ("m", m0), ("v", v0), ("vmax", x0)):
        np.save(os.path.join(tmp, name + ".npy"), a)
    subprocess.run([bench, "--mode=R", "--dir", tmp, "--steps", str(steps), desc], check=True,
                   stdout=subprocess.DEVNULL)
    p = torch.tensor(p0, requires_grad=True)
    p.grad = torch.tensor(g)
    opt = ctor([p])
    st = opt.state[p]
    if sgd:
        if t > 0:
            st["momentum_buffer"] = torch.tensor(m0)
    else:
        st["step"] = torch.tensor(float(t))
        st["exp_avg"], st["exp_avg_sq"] = torch.tensor(m0), torch.tensor(v0)
        if amsgrad:
            st["max_exp_avg_sq"] = torch.tensor(x0)
    for _ in range(steps):
        opt.step()
    got, want = np.load(os.path.join(tmp, "param.npy")), p.detach().numpy()
    diff = float(np.abs(got - want).max())
    print("%-72s max |clnn - torch| %.3g" % (desc + " --steps %d" % steps, diff))
    return diff


def check(bench):
    import tempfile
    O = torch.optim
    cases = [
        ("adamw n1003 lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08 wd=0.01 amsgrad=0 t=0",
         lambda ps: O.AdamW(ps, lr=1e-3, weight_decay=0.01), 3, dict()),
        ("adamw n1003 lr=0.01 wd=0.1 amsgrad=1 maximize=1 t=5",
         lambda ps: O.AdamW(ps, lr=1e-2, weight_decay=0.1, amsgrad=True, maximize=True), 4,
         dict(t=5, amsgrad=True)),
        ("adam n1003 lr=0.003 wd=0.05 t=2", lambda ps: O.Adam(ps, lr=3e-3, weight_decay=0.05), 2, dict(t=2)),
        ("sgd n1003 lr=0.1 momentum=0.9 dampening=0 nesterov=1 wd=0.0001",
         lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4), 3, dict(sgd=True)),
        ("sgd n1003 lr=0.1 momentum=0.9 dampening=0.3 wd=0.001 maximize=1 t=4",
         lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=1e-3, maximize=True), 3,
         dict(sgd=True, t=4)),
    ]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for desc, ctor, steps, kw in cases:
            worst = max(worst, _check_one(bench, tmp, desc, ctor, steps, **kw))
    # Parameters are O(1): a few float32 ulps of difference is rounding.
    print("worst %.3g: %s" % (worst, "ok" if worst < 1e-5 else "MISMATCH"))
    return worst < 1e-5


if __name__ == "__main__":
    import sys
    sys.exit(0 if check(sys.argv[1] if len(sys.argv) > 1 else "build/bench/clnn-bench") else 1)
