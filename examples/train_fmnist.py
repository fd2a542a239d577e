#!/usr/bin/python3
"""PyTorch twin of clnn-train (examples/train): the same EfficientNet-style
network, data pipeline and schedule, for comparison only (CI does not need it).

    /usr/bin/python3 examples/train_fmnist.py [--epochs 10] [--init CKPT] [--phi 0]
    /usr/bin/python3 examples/train_fmnist.py --parity DIR   (see parity_fmnist.sh)

Parameter and buffer names match clnn-train's safetensors checkpoints, so a
libclnn checkpoint loads with load_checkpoint(). Needs Debian's python3-torch
(checkpoints go through examples/safetensors_f32.py).
"""
import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import safetensors_f32

STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 2), (6, 5, 1, 112, 1)]
STEM, HEAD, SE_RATIO = 32, 256, 0.25
MEAN, STD = 0.2860, 0.3530


def round_filters(c, width):
    scaled = c * width
    r = max(8, int(scaled + 4) // 8 * 8)
    if r < 0.9 * scaled:
        r += 8
    return r


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        y = self.bn(self.conv(x))
        return F.silu(y) if self.act else y


class SE(nn.Module):
    def __init__(self, c, reduced):
        super().__init__()
        self.fc1 = nn.Linear(c, reduced)
        self.fc2 = nn.Linear(reduced, c)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(F.silu(self.fc1(x.mean((2, 3))))))
        return x * s[:, :, None, None]


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1) if expand != 1 else None
        self.dw = ConvBN(mid, mid, k, stride, groups=mid)
        self.se = SE(mid, max(1, int(cin * SE_RATIO)))
        self.proj = ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = self.expand(x) if self.expand is not None else x
        h = self.proj(self.se(self.dw(h)))
        return h + x if self.residual else h


class Net(nn.Module):
    def __init__(self, phi=0.0, classes=10):
        super().__init__()
        width, depth = 1.1 ** phi, 1.2 ** phi
        c = round_filters(STEM, width)
        self.stem = ConvBN(1, c, 3)
        blocks = []
        for e, k, s, ch, r in STAGES:
            out = round_filters(ch, width)
            for i in range(int(math.ceil(r * depth))):
                blocks.append(MBConv(c, out, e, k, s if i == 0 else 1))
                c = out
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(c, round_filters(HEAD, width), 1)
        self.fc = nn.Linear(round_filters(HEAD, width), classes)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.fc(self.head(x).mean((2, 3)))


def image_size(phi):
    return int(round(28 * 1.15 ** phi))


# ------------------------------------------------------------------ data
def load_idx(data_dir, prefix):
    with gzip.open(os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz")) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803
        images = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8).reshape(n, 1, rows, cols)
    with gzip.open(os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz")) as f:
        magic, n2 = struct.unpack(">II", f.read(8))
        assert magic == 0x801 and n2 == n
        labels = np.frombuffer(f.read(n), dtype=np.uint8)
    x = (torch.from_numpy(images.astype(np.float32)) / 255.0 - MEAN) / STD
    return x, torch.from_numpy(labels.astype(np.int64))


def augment(x, pad, flip, gen):
    """Random crop with padding (filled with the normalised background) and horizontal flip."""
    n, _, h, w = x.shape
    bg = (0.0 - MEAN) / STD
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad), value=bg)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        x = torch.stack([xp[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if flip:
        m = torch.rand(n, generator=gen) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    return x


def lr_at(step, total, warmup, peak):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(net, lr, wd):
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    rest = [p for n, p in net.named_parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}], lr=lr)


# ----------------------------------------------------------- checkpoints
def load_checkpoint(net, path):
    state = safetensors_f32.read(path, "torch")
    own = net.state_dict()
    for name in own:
        if name.endswith("num_batches_tracked"):
            continue
        own[name].copy_(state[name])


def save_tensors(path, tensors):
    safetensors_f32.write(path, tensors)


# ---------------------------------------------------------------- train
def evaluate(net, x, y, batch=500, device="cpu"):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            pred = net(x[i:i + batch].to(device)).argmax(1).cpu()
            correct += (pred == y[i:i + batch]).sum().item()
    net.train()
    return correct / len(x)


def train(args):
    torch.manual_seed(args.seed)
    net = Net(args.phi)
    if args.init:
        load_checkpoint(net, args.init)
    # --device cuda: the network and each batch on the GPU; data loading and
    # augmentation stay on the CPU as they are (the same images either way).
    net = net.to(args.device)
    xtr, ytr = load_idx(args.data, "train")
    xte, yte = load_idx(args.data, "t10k")
    if args.train_limit:
        xtr, ytr = xtr[:args.train_limit], ytr[:args.train_limit]
    size = image_size(args.phi)
    if size != 28:
        xtr = F.interpolate(xtr, size=(size, size), mode="bilinear", align_corners=False)
        xte = F.interpolate(xte, size=(size, size), mode="bilinear", align_corners=False)
    opt = make_optimizer(net, args.lr, args.wd)
    steps = len(xtr) // args.batch
    total, warmup = steps * args.epochs, steps * args.warmup_epochs
    gen = torch.Generator().manual_seed(args.seed)
    step = 0
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr), generator=gen)
        loss_sum = correct = 0
        for s in range(steps):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = augment(xtr[idx], args.crop_pad, not args.no_flip, gen)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, args.lr)
            xb, yb = xb.to(args.device), ytr[idx].to(args.device)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item()
            correct += (logits.argmax(1) == yb).sum().item()
        dt = time.perf_counter() - t0
        acc = evaluate(net, xte, yte, device=args.device)
        print("epoch %d/%d: loss %.4f, train acc %.2f%%, test acc %.2f%%, %.1f s, %.0f img/s" % (
            epoch + 1, args.epochs, loss_sum / steps, 100 * correct / (steps * args.batch), 100 * acc, dt,
            steps * args.batch / dt), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup-epochs", type=int, default=1)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--phi", type=float, default=0.0)
    ap.add_argument("--crop-pad", type=int, default=2)
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", help="start from a clnn-train safetensors checkpoint")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to train the twin on a GPU (TF32 off)")
    args = ap.parse_args()
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(args.threads)
    train(args)


if __name__ == "__main__":
    main()
