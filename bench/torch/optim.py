"""PyTorch twins of the clnn-bench optimizer families, timed by compare.py.

    adamw / adam  torch.optim.AdamW / Adam with PyTorch's default foreach
                  setting, state created by one untimed step (as
                  ../shared/anchors/torch_suite.py does), then opt.step
    sgd           torch.optim.SGD (momentum buffers created the same way)
    ema           ema.lerp_(p, 1 - decay) over the list
    clip_grad_norm  torch.nn.utils.clip_grad_norm_(params, max_norm)

n and tensors= split the parameters exactly as bench/bench_optim.c does
(tensors=resnet50: the 161 ResNet-50 sizes of ../shared/anchors/suite.json,
scaled to add up to n). Keys without a PyTorch counterpart in these classes
(scale, skip) make the twin return None: those problems are not compared.
compare.py finds this module through FAMILIES and calls make_family().
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
