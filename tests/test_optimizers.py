"""Optimizers against their published update rules (written out independently in NumPy float64),
against torch.optim where the definitions coincide, errors, and learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _gradcheck import one_thread  # noqa: F401 - autouse fixture

from xpnet.backend import get_backend
from xpnet.optimizers import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    CosineLR,
    ExponentialLR,
    Momentum,
    Nesterov,
    RMSprop,
    StepLR,
    make_optimizer,
)

STEPS = 6
LR = 0.05  # != 1, so a bias updated without the learning rate (seed 002) shows


# ---------------------------------------------------------------------- reference rules
class RefSGD:
    def __init__(self, lr):
        self.lr = lr

    def step(self, w, g, s):
        return w - self.lr * g


class RefMomentum:  # Polyak: v = mu v - lr g; w = w + v
    def __init__(self, lr, momentum=0.9):
        self.lr, self.mu = lr, momentum

    def step(self, w, g, s):
        s["v"] = self.mu * s.get("v", 0.0) - self.lr * g
        return w + s["v"]


class RefNesterov:  # Bengio et al. 2013: v' = mu v - lr g; w = w - mu v + (1 + mu) v'
    def __init__(self, lr, momentum=0.9):
        self.lr, self.mu = lr, momentum

    def step(self, w, g, s):
        v_old = s.get("v", 0.0)
        s["v"] = self.mu * v_old - self.lr * g
        return w - self.mu * v_old + (1.0 + self.mu) * s["v"]


class RefAdaGrad:  # Duchi et al. 2011
    def __init__(self, lr, eps=1e-7):
        self.lr, self.eps = lr, eps

    def step(self, w, g, s):
        s["h"] = s.get("h", 0.0) + g * g
        return w - self.lr * g / (np.sqrt(s["h"]) + self.eps)


class RefRMSprop:  # Tieleman & Hinton 2012
    def __init__(self, lr, decay_rate=0.99, eps=1e-7):
        self.lr, self.d, self.eps = lr, decay_rate, eps

    def step(self, w, g, s):
        s["h"] = self.d * s.get("h", 0.0) + (1.0 - self.d) * g * g
        return w - self.lr * g / (np.sqrt(s["h"]) + self.eps)


class RefAdam:  # Kingma & Ba 2015, Algorithm 1; decoupled decay of Loshchilov & Hutter 2019
    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        self.lr, self.b1, self.b2, self.eps, self.wd = lr, beta1, beta2, eps, weight_decay

    def step(self, w, g, s):
        t = s["t"] = s.get("t", 0) + 1
        s["m"] = self.b1 * s.get("m", 0.0) + (1.0 - self.b1) * g
        s["v"] = self.b2 * s.get("v", 0.0) + (1.0 - self.b2) * g * g
        m_hat = s["m"] / (1.0 - self.b1**t)  # bias correction 1 - beta**t (not 1 - beta)
        v_hat = s["v"] / (1.0 - self.b2**t)
        return w - self.lr * (m_hat / (np.sqrt(v_hat) + self.eps) + self.wd * w)


CASES = {
    "sgd": (SGD, RefSGD, {}),
    "momentum": (Momentum, RefMomentum, {"momentum": 0.8}),
    "nesterov": (Nesterov, RefNesterov, {"momentum": 0.8}),
    "adagrad": (AdaGrad, RefAdaGrad, {"eps": 1e-6}),
    "rmsprop": (RMSprop, RefRMSprop, {"decay_rate": 0.9, "eps": 1e-6}),
    "adam": (Adam, RefAdam, {"beta1": 0.8, "beta2": 0.95, "eps": 1e-7}),
    "adamw": (AdamW, RefAdam, {"beta1": 0.8, "beta2": 0.95, "eps": 1e-7,
                               "weight_decay": 0.1}),
}


def _shapes():
    return {"W": (3, 4), "b": (4,), "flat": (11,)}


@pytest.mark.parametrize("name", list(CASES))
def test_optimizer_matches_published_rule(backend_name, name):
    cls, ref_cls, kw = CASES[name]
    b = get_backend(backend_name, dtype="float64")
    rng = np.random.default_rng(7)
    host = {k: rng.normal(size=s) for k, s in _shapes().items()}
    params = {k: b.asarray(v.copy()) for k, v in host.items()}  # numpy: no aliasing
    ids = {k: id(v) for k, v in params.items()}
    opt, ref = cls(lr=LR, **kw), ref_cls(LR, **kw)
    ref_state = {k: {} for k in host}
    for _ in range(STEPS):
        grads_host = {k: rng.normal(size=s) * rng.uniform(0.1, 3.0) for k, s in _shapes().items()}
        opt.update(params, {k: b.asarray(g) for k, g in grads_host.items()})
        for k in host:
            host[k] = ref.step(host[k], grads_host[k], ref_state[k])
            np.testing.assert_allclose(b.to_numpy(params[k]), host[k], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name}: params[{k!r}]")
    # updated in place: views into a flat buffer and layers holding the dict see the change
    assert {k: id(v) for k, v in params.items()} == ids


@pytest.mark.parametrize("name", list(CASES))
def test_optimizer_updates_views_in_place(backend_name, name):
    """A parameter that is a view into a flat buffer: the buffer changes (network.params)."""
    cls, _, kw = CASES[name]
    b = get_backend(backend_name, dtype="float64")
    xp = b.xp
    flat = b.asarray(np.arange(1.0, 13.0))
    params = {"W": xp.reshape(flat[:8], (2, 4)), "b": flat[8:]}
    cls(lr=LR, **kw).update(params, {"W": b.asarray(np.ones((2, 4))),
                                     "b": b.asarray(np.ones(4))})
    changed = b.to_numpy(flat) != np.arange(1.0, 13.0)
    assert changed.all(), f"{name}: weights and biases must both move"


def test_adam_bias_correction_first_step(backend_name):
    """After step 1, m_hat = g and v_hat = g^2: the step is lr * g / (|g| + eps) ~ lr sign(g).
    Seed 002 divided by (1 - beta), which gives a different step."""
    b = get_backend(backend_name, dtype="float64")
    params = {"w": b.asarray(np.zeros(3))}
    g = np.array([0.5, -2.0, 4.0])
    Adam(lr=0.1).update(params, {"w": b.asarray(g)})
    np.testing.assert_allclose(b.to_numpy(params["w"]), -0.1 * g / (np.abs(g) + 1e-8),
                               rtol=1e-10)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_fused_adam_equals_plain_array_api_path(backend_name, cls):
    """The fused kernels (numpy, torch) compute the same step as the plain code, also on a
    buffer large enough for numpy's compiled (numba) kernel."""
    b = get_backend(backend_name, dtype="float64")
    rng = np.random.default_rng(3)
    n = 70_000 if b.name == "numpy" else 1_000  # numpy compiles its step from 65536 up
    w0 = rng.normal(size=n)
    fused = {"flat": b.asarray(w0.copy())}
    plain = {"flat": b.asarray(w0.copy())}
    o_fused, o_plain = cls(lr=0.01, fused=True), cls(lr=0.01, fused=False)
    ref, state, w = RefAdam(0.01, weight_decay=o_plain.weight_decay), {}, w0.copy()
    for _ in range(3):
        g = rng.normal(size=n)
        o_fused.update(fused, {"flat": b.asarray(g)})
        o_plain.update(plain, {"flat": b.asarray(g)})
        w = ref.step(w, g, state)
    np.testing.assert_allclose(b.to_numpy(fused["flat"]), w, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(b.to_numpy(plain["flat"]), w, rtol=1e-10, atol=1e-13)


def test_optimizer_float32_stays_float32(backend_name):
    b = get_backend(backend_name)  # float32
    for cls, _, kw in CASES.values():
        params = {"W": b.asarray(np.ones((2, 3))), "b": b.asarray(np.ones(3))}
        opt = cls(lr=LR, **kw)
        for _ in range(2):
            opt.update(params, {"W": b.asarray(np.ones((2, 3))), "b": b.asarray(np.ones(3))})
        assert params["W"].dtype == b.dtype and params["b"].dtype == b.dtype, cls.__name__


def test_lr_change_between_steps_is_used():
    """Schedules set ``opt.lr``; the next step must use it."""
    params = {"w": np.zeros(2)}
    opt = SGD(lr=0.1)
    opt.update(params, {"w": np.ones(2)})
    opt.lr = 0.01
    opt.update(params, {"w": np.ones(2)})
    np.testing.assert_allclose(params["w"], -0.11)


def test_reset_forgets_state():
    params = {"w": np.zeros(2)}
    opt = Adam(lr=0.1)
    opt.update(params, {"w": np.ones(2)})
    opt.reset()
    params["w"][...] = 0.0
    opt.update(params, {"w": np.ones(2)})
    np.testing.assert_allclose(params["w"], -0.1 / (1 + 1e-8))  # a first step again


# ---------------------------------------------------------------------- torch.optim
def _torch_cases(torch):
    o = torch.optim
    return {
        "sgd": (SGD(lr=LR), lambda p: o.SGD([p], lr=LR)),
        "momentum": (Momentum(lr=LR, momentum=0.8), lambda p: o.SGD([p], lr=LR, momentum=0.8)),
        "nesterov": (Nesterov(lr=LR, momentum=0.8),
                     lambda p: o.SGD([p], lr=LR, momentum=0.8, nesterov=True)),
        "adagrad": (AdaGrad(lr=LR, eps=1e-7), lambda p: o.Adagrad([p], lr=LR, eps=1e-7)),
        "rmsprop": (RMSprop(lr=LR, decay_rate=0.9, eps=1e-7),
                    lambda p: o.RMSprop([p], lr=LR, alpha=0.9, eps=1e-7)),
        "adam": (Adam(lr=LR, beta1=0.8, beta2=0.95, eps=1e-7),
                 lambda p: o.Adam([p], lr=LR, betas=(0.8, 0.95), eps=1e-7)),
        "adamw": (AdamW(lr=LR, beta1=0.8, beta2=0.95, eps=1e-7, weight_decay=0.1),
                  lambda p: o.AdamW([p], lr=LR, betas=(0.8, 0.95), eps=1e-7,
                                    weight_decay=0.1)),
    }


@pytest.mark.parametrize("name", list(CASES))
def test_optimizer_matches_torch_optim(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    w0 = rng.normal(size=(4, 3))
    ours, make_torch = _torch_cases(torch)[name]
    params = {"W": w0.copy()}
    p = torch.tensor(w0.copy(), dtype=torch.float64, requires_grad=True)
    topt = make_torch(p)
    for _ in range(STEPS):
        g = rng.normal(size=(4, 3)) * rng.uniform(0.1, 3.0)
        ours.update(params, {"W": g})
        p.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
        np.testing.assert_allclose(params["W"], p.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


# ---------------------------------------------------------------------- errors
def test_make_optimizer_by_name():
    assert isinstance(make_optimizer("Adam", lr=0.1), Adam)
    assert isinstance(make_optimizer("sgd"), SGD)
    opt = Momentum(lr=0.1)
    assert make_optimizer(opt) is opt


@pytest.mark.parametrize("bad", ["adamm", "", 3])
def test_make_optimizer_unknown_name(bad):
    with pytest.raises(ValueError, match="optimizer") as info:
        make_optimizer(bad)
    assert "adam" in str(info.value) and "sgd" in str(info.value)  # lists the valid names


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW])
def test_learning_rate_must_be_positive(cls, lr):
    with pytest.raises(ValueError, match="lr"):
        cls(lr=lr)


def test_make_optimizer_bad_lr_and_params():
    with pytest.raises(ValueError, match="lr"):
        make_optimizer("adam", lr=-1.0)
    with pytest.raises(TypeError, match="optimizer_param"):
        make_optimizer("sgd", lr=0.1, momentum=0.9)


@pytest.mark.parametrize("kw", [{"momentum": 1.0}, {"momentum": -0.1}])
def test_momentum_range(kw):
    with pytest.raises(ValueError, match="momentum"):
        Momentum(lr=0.1, **kw)


# ---------------------------------------------------------------------- schedules
def test_step_lr():
    s = StepLR(step_size=2, gamma=0.5)
    assert [s(0.1, e, 10) for e in range(6)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_exponential_lr():
    s = ExponentialLR(gamma=0.9)
    assert [s(1.0, e, 10) for e in range(4)] == pytest.approx([1.0, 0.9, 0.81, 0.729])


def test_cosine_lr():
    s = CosineLR(min_lr=0.01)
    assert s(0.1, 0, 10) == pytest.approx(0.1)
    assert s(0.1, 5, 10) == pytest.approx(0.055)
    assert s(0.1, 10, 10) == pytest.approx(0.01)
    values = [s(0.1, e, 10) for e in range(11)]
    assert all(a > b for a, b in zip(values[:-1], values[1:], strict=True))
    assert s(0.1, 2, 10) == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * 0.2)))
