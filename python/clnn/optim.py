"""torch.optim.AdamW, Adam and SGD stepped by libclnn's fused multi-tensor kernels.

The optimizer state (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer)
lives on the device for the whole run. Each step uploads the parameters and
their gradients (the CPU tensors stay authoritative, so a parameter changed
between steps is seen), runs one clnn_*_step call per group and step count,
and reads the new values straight back into the parameters' memory.
Exposed as clnn.torch.optim.
"""
import ctypes

import torch

from . import _lib
from ._core import Error, Tensor, _context, invalid
from ._lib import lib


def _upload(t, ctx, into=None):
    host = t.detach()
    if host.dtype != torch.float32:
        host = host.float()
    host = host.contiguous().numpy()
    if into is None:
        return Tensor.from_numpy(host, ctx)
    into.copy_from_numpy(host)
    return into


def _handles(tensors):
    return (ctypes.c_void_p * len(tensors))(*[t._handle for t in tensors])


def _write_back(p, dev):
    """dev's values into the torch tensor p, in place: straight into p's own memory when it
    is float32 and contiguous, else through a cast (also clnn.torch.batch_norm's running stats)."""
    if p.dtype == torch.float32 and p.is_contiguous():
        dev.read_into(p.detach().numpy())
    else:
        with torch.no_grad():
            p.copy_(torch.from_numpy(dev.to_numpy()))


class _ClnnOptimizer(torch.optim.Optimizer):
    _STATE = ()  # names of the device state tensors of each parameter

    def __init__(self, params, defaults, context=None):
        super().__init__(params, defaults)
        self._ctx = _context(context)

    def add_param_group(self, param_group):
        """torch's, then the group's hyperparameters checked by the C API as a step
        would check them: a bad lr or beta raises here, as torch's constructors do,
        not at the first step."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            desc = self._desc(group, 1)
        except (TypeError, ValueError) as e:
            self.param_groups.pop()
            raise invalid(f"{type(self).__name__}: a hyperparameter is not a number ({e})") from e
        status = getattr(lib, self._CHECK)(ctypes.byref(desc))
        if status != _lib.SUCCESS:
            self.param_groups.pop()
            raise Error(status, _lib.text(lib.clnn_context_errmsg(None)))

    def _bucket(self, group):
        """The parameters of group that have gradients, by the step number they take now."""
        buckets = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise invalid("clnn optimizers take dense gradients", _lib.ERR_UNSUPPORTED)
            st = self.state[p]
            if "dev" not in st:
                self._to_device(p, st)
            buckets.setdefault(st["step"] + 1, []).append(p)
        return buckets

    def _to_device(self, p, st):
        """Give p its device state: zeros for a new parameter, else the torch-format
        state (CPU tensors) that load_state_dict put there."""
        loaded = {name: st.get(name) for name in self._STATE}
        if "step" in st:
            step = int(float(st["step"]))
        else:  # torch's SGD keeps no step: a momentum buffer means step 1 is behind it
            step = 1 if any(v is not None for v in loaded.values()) else 0
        shape = tuple(p.shape)
        dev = {}
        for name, value in loaded.items():
            if value is not None and tuple(value.shape) != shape:
                raise invalid(f"load_state_dict: state {name!r} has shape {tuple(value.shape)}, the parameter "
                              f"{shape}", _lib.ERR_SHAPE_MISMATCH)
            dev[name] = Tensor.zeros(shape, "float32", self._ctx) if value is None else _upload(value, self._ctx)
        st.clear()
        st.update(step=step, dev=dev, param=Tensor.empty(shape, "float32", self._ctx),
                  grad=Tensor.empty(shape, "float32", self._ctx))

    def state_dict(self):
        """torch.optim's format: the device state read back into CPU tensors of each
        parameter's dtype. It pickles (torch.save), and loads into this optimizer or
        the torch.optim one of the same name (the clnn.Tensor state would do neither)."""
        group_of = {id(p): g for g in self.param_groups for p in g["params"]}
        host = {id(st): self._host_state(p, st, group_of[id(p)]) for p, st in self.state.items()}
        sd = super().state_dict()
        sd["state"] = {k: host[id(st)] if id(st) in host else st for k, st in sd["state"].items()}
        return sd

    def _host_state(self, p, st, group):
        if "dev" not in st:
            return dict(st)  # loaded and not stepped yet: still in torch's format
        cpu = lambda t: torch.from_numpy(t.to_numpy()).to(p.dtype if p.is_floating_point() else torch.float32)
        return self._export(st, group, cpu)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for step, params in self._bucket(group).items():
                states = [self.state[p] for p in params]
                dev_p = [_upload(p, self._ctx, st["param"]) for p, st in zip(params, states)]
                dev_g = [_upload(p.grad, self._ctx, st["grad"]) for p, st in zip(params, states)]
                self._run(group, step, dev_p, dev_g, states)
                for p, d, st in zip(params, dev_p, states):
                    _write_back(p, d)
                    st["step"] = step
        return loss


def _torch_only_options(name, foreach=None, **flags):
    """torch's implementation switches: foreach is moot (every step is one multi-tensor
    call); capturable, differentiable and fused ask for what a device step cannot give."""
    asked = sorted(k for k, v in flags.items() if v)
    if asked:
        raise invalid(f"{name}: {', '.join(asked)}=True is not supported", _lib.ERR_UNSUPPORTED)


class Adam(_ClnnOptimizer):
    """torch.optim.Adam's constructor arguments (foreach is ignored; capturable,
    differentiable and fused=True raise CLNN_ERR_UNSUPPORTED)."""
    _STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _FN = "clnn_adam_step"
    _CHECK = "clnn_adam_desc_check"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=False, context=None):
        _torch_only_options(type(self).__name__, foreach, capturable=capturable, differentiable=differentiable,
                            fused=fused)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise invalid(f"{type(self).__name__}: betas must be a pair, got {betas!r}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize), context)

    def _desc(self, group, step):
        d = lib.clnn_adam_desc_make(float(group["lr"]), step)
        beta1, beta2 = group["betas"]
        d.beta1, d.beta2 = float(beta1), float(beta2)
        d.eps, d.weight_decay = float(group["eps"]), float(group["weight_decay"])
        d.amsgrad, d.maximize = int(bool(group["amsgrad"])), int(bool(group["maximize"]))
        return d

    def _run(self, group, step, dev_p, dev_g, states):
        d = self._desc(group, step)
        m = [st["dev"]["exp_avg"] for st in states]
        v = [st["dev"]["exp_avg_sq"] for st in states]
        vmax = [st["dev"]["max_exp_avg_sq"] for st in states]
        self._ctx.call(self._FN, ctypes.byref(d), len(dev_p), _handles(dev_p), _handles(dev_g), _handles(m),
                       _handles(v), _handles(vmax) if d.amsgrad else None, None)

    def _export(self, st, group, cpu):
        names = self._STATE if group["amsgrad"] else self._STATE[:2]
        return dict(step=torch.tensor(float(st["step"])), **{n: cpu(st["dev"][n]) for n in names})


class AdamW(Adam):
    """torch.optim.AdamW's constructor arguments (weight_decay defaults to 0.01, decoupled)."""
    _FN = "clnn_adamw_step"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=False, context=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused, context=context)


class SGD(_ClnnOptimizer):
    """torch.optim.SGD's constructor arguments (lr required, as in torch; foreach is
    ignored, differentiable=True raises CLNN_ERR_UNSUPPORTED)."""
    _STATE = ("momentum_buffer",)
    _CHECK = "clnn_sgd_desc_check"

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, context=None):
        _torch_only_options("SGD", foreach, differentiable=differentiable)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize), context)

    def _desc(self, group, step):
        d = lib.clnn_sgd_desc_make(float(group["lr"]), step)
        d.momentum, d.dampening = float(group["momentum"]), float(group["dampening"])
        d.weight_decay = float(group["weight_decay"])
        d.nesterov, d.maximize = int(bool(group["nesterov"])), int(bool(group["maximize"]))
        return d

    def _run(self, group, step, dev_p, dev_g, states):
        d = self._desc(group, step)
        bufs = [st["dev"]["momentum_buffer"] for st in states]
        self._ctx.call("clnn_sgd_step", ctypes.byref(d), len(dev_p), _handles(dev_p), _handles(dev_g),
                       _handles(bufs) if d.momentum else None, None)

    def _export(self, st, group, cpu):
        # torch's SGD: momentum_buffer None until a step with momentum made it
        has_buf = group["momentum"] != 0 and st["step"] >= 1
        return {"momentum_buffer": cpu(st["dev"]["momentum_buffer"]) if has_buf else None}
