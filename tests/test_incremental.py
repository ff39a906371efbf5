"""Out-of-core / cluster training through partial_fit: dask-ml's ``Incremental`` wrapping
``xpnet.MLPClassifier`` on a Dask array of several blocks gives the same model (the same
weights) as a serial loop of ``partial_fit`` over the same blocks, with the same
``random_state``.

Skipped where dask-ml is not installed (CI's first phase); CI's second phase installs
``.[dask]``. The cluster is a small in-process ``LocalCluster`` (threads), which still
serializes the estimator into the task graph between passes, as a multi-machine cluster does.
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

import xpnet  # noqa: E402

N_ROWS, N_FEATURES, CHUNK = 600, 12, 150  # four blocks


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_ROWS, N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] ** 2 - X[:, 2] > 0.5).astype(np.int64) + (X[:, 3] > 1)
    return X, y


def _model(**options) -> xpnet.MLPClassifier:
    return xpnet.MLPClassifier(hidden_layer_sizes=(16,), solver="adam", batch_size=32,
                               random_state=0, **options)


def _blocks(X, y):
    return [(X[i:i + CHUNK], y[i:i + CHUNK]) for i in range(0, len(X), CHUNK)]


def _serial(X, y, passes: int, order=None, **options) -> xpnet.MLPClassifier:
    model, blocks = _model(**options), _blocks(X, y)
    for _ in range(passes):
        for i in order or range(len(blocks)):
            model.partial_fit(*blocks[i], classes=np.unique(y))
    return model


def _assert_same_weights(a: xpnet.MLPClassifier, b: xpnet.MLPClassifier) -> None:
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_the_dask_array_is_larger_than_one_block(data):
    X, _ = data
    assert da.from_array(X, chunks=(CHUNK, N_FEATURES)).numblocks[0] == 4


def test_incremental_fit_equals_a_serial_partial_fit_loop(client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, chunks=CHUNK)
    # scoring="accuracy": dask-ml's scorer computes the blocks' predictions; without it,
    # Incremental.score hands the Dask arrays to MLPClassifier.score, which takes NumPy
    # arrays or the backend's own
    inc = wrappers.Incremental(_model(), scoring="accuracy", shuffle_blocks=False)
    inc.fit(Xd, yd, classes=np.unique(y))
    reference = _serial(X, y, passes=1)
    _assert_same_weights(inc.estimator_, reference)
    # one partial_fit per block, every row seen once (t_ and loss_curve_ as scikit-learn's)
    assert inc.estimator_.t_ == reference.t_ == N_ROWS
    assert len(inc.estimator_.loss_curve_) == len(reference.loss_curve_) == 4
    np.testing.assert_array_equal(inc.predict(Xd).compute(), reference.predict(X))
    assert inc.score(Xd, yd) == pytest.approx(reference.score(X, y))


@pytest.mark.parametrize("shuffle", [True, False])
def test_passes_of_incremental_partial_fit_equal_the_serial_loop(client, data, shuffle):
    """Each ``Incremental.partial_fit`` is one more pass; between passes the fitted estimator
    travels through the task graph (serialized), and must continue exactly where it was:
    weights, optimizer state and the generator of its epoch shuffles."""
    X, y = data
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, chunks=CHUNK)
    inc = wrappers.Incremental(_model(shuffle=shuffle), shuffle_blocks=False)
    for _ in range(3):
        inc.partial_fit(Xd, yd, classes=np.unique(y))
    _assert_same_weights(inc.estimator_, _serial(X, y, passes=3, shuffle=shuffle))


def test_shuffled_blocks_are_the_serial_loop_in_that_order(client, data):
    """``shuffle_blocks=True`` with a ``random_state`` visits the blocks in the order that
    ``check_random_state(random_state).shuffle`` gives (dask-ml's documented rule)."""
    from sklearn.utils import check_random_state

    X, y = data
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, chunks=CHUNK)
    inc = wrappers.Incremental(_model(), shuffle_blocks=True, random_state=7)
    inc.fit(Xd, yd, classes=np.unique(y))
    order = list(range(len(_blocks(X, y))))
    check_random_state(7).shuffle(order)
    assert order != sorted(order)  # a real reordering
    _assert_same_weights(inc.estimator_, _serial(X, y, passes=1, order=order))
