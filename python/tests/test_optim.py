"""clnn.torch.optim against torch.optim: the same parameters after several steps."""
import pytest
import torch

import clnn
from clnn.torch import optim


def run(make_opt, steps=5, skip_grad_at=None):
    torch.manual_seed(3)
    params = [torch.randn(4, 3, 3, 3, requires_grad=True), torch.randn(7, requires_grad=True),
              torch.randn(5, 2, requires_grad=True)]
    opt = make_opt(params)
    for i in range(steps):
        opt.zero_grad()
        loss = sum((p * p * (k + 1)).sum() + p.sin().sum() for k, p in enumerate(params))
        loss.backward()
        if skip_grad_at == i:
            params[1].grad = None  # a parameter without a gradient this step: it falls one step behind
        opt.step()
    return [p.detach() for p in params]


CASES = [
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.1)),
]


@pytest.mark.parametrize("name,kw", CASES)
def test_matches_torch(name, kw):
    ours = run(lambda ps: getattr(optim, name)(ps, **kw), skip_grad_at=2)
    ref = run(lambda ps: getattr(torch.optim, name)(ps, **kw), skip_grad_at=2)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda ps: optim.AdamW(ps, lr=0.01, betas=(1.5, 0.999)),
    lambda ps: optim.Adam(ps, lr=-1.0),
    lambda ps: optim.AdamW(ps, eps=-1e-8),
    lambda ps: optim.AdamW(ps, lr="fast"),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5),
    lambda ps: optim.SGD(ps, lr=0.1, nesterov=True),  # nesterov without momentum
])
def test_bad_hyperparameter_raises_at_construction(make):
    # as torch's constructors do (ValueError there), not at the first step
    p = torch.randn(3, requires_grad=True)
    with pytest.raises(clnn.Error) as e:
        make([p])
    assert e.value.name == "CLNN_ERR_INVALID_VALUE"


def test_bad_hyperparameter_set_later_raises_at_step():
    p = torch.randn(3, requires_grad=True)
    p.grad = torch.ones(3)
    opt = optim.AdamW([p], lr=0.01)
    opt.param_groups[0]["betas"] = (1.5, 0.999)
    with pytest.raises(clnn.Error) as e:
        opt.step()
    assert e.value.name == "CLNN_ERR_INVALID_VALUE"
    with pytest.raises(clnn.Error):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": -1.0})
    assert len(opt.param_groups) == 1


def _pair_steps(a, b, pa, pb, steps, seed):
    torch.manual_seed(seed)
    for _ in range(steps):
        for x, y in zip(pa, pb):
            g = torch.randn(x.shape)
            x.grad, y.grad = g.clone(), g.clone()
        a.step()
        b.step()


@pytest.mark.parametrize("name,kw", [("AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
                                     ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True))])
def test_state_dict_saves_and_loads_both_ways(name, kw, tmp_path):
    # the state held clnn.Tensors: torch.save / load_state_dict (a deepcopy) raised
    torch.manual_seed(0)
    start = [torch.randn(4, 3), torch.randn(5)]
    ours = [p.clone().requires_grad_() for p in start]
    ref = [p.clone().requires_grad_() for p in start]
    a, b = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(ref, **kw)
    _pair_steps(a, b, ours, ref, 3, 1)
    torch.save(a.state_dict(), tmp_path / "opt.pt")
    saved = torch.load(tmp_path / "opt.pt")
    for k, v in b.state_dict()["state"].items():
        for key, value in v.items():
            torch.testing.assert_close(saved["state"][k][key], value, rtol=1e-5, atol=1e-6)
    # resume: clnn from its own checkpoint, torch from clnn's, and clnn from torch's
    ours2 = [p.detach().clone().requires_grad_() for p in ours]
    ref2 = [p.detach().clone().requires_grad_() for p in ours]
    a2, b2 = getattr(optim, name)(ours2, **kw), getattr(torch.optim, name)(ref2, **kw)
    a2.load_state_dict(saved)
    b2.load_state_dict(saved)
    a.load_state_dict(b.state_dict())
    _pair_steps(a2, b2, ours2, ref2, 3, 2)
    _pair_steps(a, b, ours, ref, 3, 2)
    for x, y in zip(ours2 + ours, ref2 + ref):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
