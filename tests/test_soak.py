"""Soak tests (``-m soak``; excluded from the default run by ``addopts``): 10,000 training steps
must not grow memory.  Run with ``python -m pytest -m soak tests/test_soak.py -q -s``.

Memory is traced with :mod:`tracemalloc` (NumPy reports its buffers to it) between step 2,000
(after warm-up: optimizer state, masks and caches exist) and step 10,000; the resident set size
(RSS) is printed too but only loosely bounded, as the allocator may keep freed pages.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from _gradcheck import one_thread  # noqa: F401 - autouse fixture: one BLAS/torch thread

import xpnet

pytestmark = pytest.mark.soak

STEPS, WARMUP = 10_000, 2_000
#: traced growth allowed between WARMUP and STEPS (a leak of one 16x64 float32 activation per
#: step would be 8,000 * 4 KiB = 32 MiB)
TRACED_BOUND = 256 * 1024
RSS_BOUND = 32 * 1024 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _measure(train, marks: dict) -> dict:
    """Run ``train(mark)``, which calls ``mark("warm")`` at step WARMUP and ``mark("end")``
    at step STEPS (with the model and trainer still alive); each records the traced memory and
    the RSS."""
    def mark(name: str) -> None:
        gc.collect()
        marks[name] = (tracemalloc.get_traced_memory()[0], _rss())

    tracemalloc.start()
    try:
        train(mark)
    finally:
        tracemalloc.stop()
    return marks


def _report(name: str, marks: dict) -> tuple[int, int]:
    (t0, r0), (t1, r1) = marks["warm"], marks["end"]
    print(f"\n{name}: traced {t0 / 1024:.0f} KiB at step {WARMUP} -> {t1 / 1024:.0f} KiB at "
          f"step {STEPS} (growth {(t1 - t0) / 1024:+.1f} KiB); RSS {r0 / 2**20:.1f} -> "
          f"{r1 / 2**20:.1f} MiB ({(r1 - r0) / 2**20:+.1f} MiB)")
    return t1 - t0, r1 - r0


def test_trainer_batchnorm_dropout_adam_memory_is_flat():
    rng = np.random.default_rng(0)
    batch, per_epoch = 16, 1_000
    n = batch * per_epoch
    x = rng.normal(size=(n, 20)).astype(np.float32)
    t = np.argmax(x[:, :4] + 0.5 * rng.normal(size=(n, 4)), axis=1)
    net = xpnet.MultiLayerNetExtend(20, [64, 64], 4, use_batchnorm=True, use_dropout=True,
                                    dropout_ratio=0.2, random_state=0)
    epochs = STEPS // per_epoch

    def train(mark):
        def schedule(lr0, epoch, total):  # called before each epoch: a hook at step 1000*k
            if epoch * per_epoch == WARMUP:
                mark("warm")
            return lr0

        trainer = xpnet.Trainer(net, x, t, x[:500], t[:500], epochs=epochs,
                                mini_batch_size=batch, optimizer="adam",
                                optimizer_param={"lr": 1e-3}, verbose=False,
                                lr_schedule=schedule)
        history = trainer.train()
        mark("end")
        assert trainer.current_epoch * per_epoch == STEPS and not history.diverged
        assert history["loss"][-1] < history["loss"][0]

    traced, rss = _report("Trainer BN+dropout+Adam", _measure(train, {}))
    assert traced < TRACED_BOUND
    assert rss < RSS_BOUND


def test_minibatch_network_memory_is_flat():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(320, 10))
    y = (x[:, 0] > 0).astype(int)
    model = xpnet.MinibatchNetwork(units=16, batch_size=32, random_state=0)  # 10 steps/epoch

    def train(mark):
        model.fit(x, y, epochs=WARMUP // 10)
        mark("warm")
        model.fit(x, y, epochs=(STEPS - WARMUP) // 10)
        mark("end")

    marks = _measure(train, {})
    # the second fit appends its 800 losses to the seeds' `losses` list: that growth is expected
    traced, rss = _report("MinibatchNetwork", marks)
    assert traced < TRACED_BOUND + 800 * 64
    assert rss < RSS_BOUND
    assert len(model.losses) == STEPS // 10
