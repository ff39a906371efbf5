"""ONNX export: a model's own eval-mode forward, run on the ``ndonnx`` Array API namespace.

There is no converter per layer.  The model is rebuilt from its description
(:func:`xpnet.nn.state.describe`) on ``backend=ndonnx``, in float32, and its forward is called
with a symbolic input of shape (N, n_features): ndonnx records the operations as an ONNX graph.
Networks of images (a :class:`~xpnet.network.Network` with convolutions, SimpleConvNet, an
estimator given ``layers=``) take flat rows of C*H*W pixels, as their ``predict`` does; their
forward reshapes them to (N, C, H, W) and runs im2col's slices on the symbolic batch.
A scikit-learn Pipeline's scalers are their affine maps, ``x * scale + offset``, in ndonnx ops.

Outputs (what onnxruntime returns, in this order):

- classifiers (MLPClassifier, networks with a softmax loss): ``probabilities`` (N, k) and
  ``label`` (``classes_`` values for estimators: numbers, booleans or strings; the class
  index, int64, for networks);
- seed models: ``probabilities`` (N, 1), the probability of class 1, and ``label`` (N, 1)
  bool, as ``predict_proba``/``predict``;
- regressors: ``predictions``, (N,) for one output (as ``MLPRegressor.predict``), else
  (N, n_outputs); a network with another loss returns ``predict``'s scores.
"""

from __future__ import annotations

import copy
import importlib
import math
import tempfile
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..backends import BackendUnavailableError
from ..nn.network import Network
from ..nn.seed_models import SingleLayer
from ..nn.state import describe, rebuild
from .estimators import MLPClassifier, MLPRegressor
from .io import TRANSFORMERS

__all__ = ["export_onnx", "SCALERS"]



def _affine(step: Any) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) of a fitted scaler's map ``x * scale + offset``, asked of the scaler
    itself: its images of a row of zeros (the offset) and a row of ones, without clipping."""
    probe = copy.copy(step)
    if getattr(probe, "clip", False):
        probe.clip = False  # MinMaxScaler(clip=True): the clip is an op of its own (_scale)
    with warnings.catch_warnings():  # a scaler fitted on a DataFrame warns of plain rows
        warnings.simplefilter("ignore", UserWarning)
        offset, ones = probe.transform(np.repeat([[0.0], [1.0]], step.n_features_in_, axis=1))
    return ones - offset, offset


#: the scalers a Pipeline may hold (io's table of them) -> (scale, offset) of their map
SCALERS = {cls.__name__: _affine for cls in TRANSFORMERS}


def export_onnx(model: Any, path: str | PathLike[str], *, opset: int | None = None) -> Path:
    """Write ``model``'s eval-mode predictions as an ONNX model with a dynamic batch size.

    Args:
        model: a fitted MLPClassifier/MLPRegressor, a network (Network, SimpleConvNet,
            MultiLayerNet(Extend)), a seed model (SingleLayer, DualLayer,
            RandomInitNetwork, MinibatchNetwork), or a fitted
            scikit-learn Pipeline of scalers (Standard, MinMax, MaxAbs, Robust) ending in one.
        path: the ``.onnx`` file to write.
        opset: the ONNX opset to convert to; None keeps ndonnx's (21 with ndonnx 0.23).

    Returns:
        The path written.  The graph's input is ``x`` (float32, shape (N, n_features)); its
        outputs are described in :mod:`xpnet.edges.onnx_export`.

    Raises:
        BackendUnavailableError: ndonnx, onnx or onnxruntime is not installed
            (``pip install -e ".[onnx]"`` in an xpnet checkout).
        ValueError: the model is not fitted, or onnx cannot convert the graph to ``opset``
            (ndonnx 0.23 writes opset 21 and uses opset-20 operators: 20 and up convert).
        TypeError: ``model`` (or a Pipeline step) is of a kind that cannot be exported.

    Example:
        >>> import numpy as np, onnxruntime, xpnet
        >>> X, y = np.random.rand(40, 3), np.arange(40) % 2
        >>> clf = xpnet.MLPClassifier([8], max_iter=5, random_state=0).fit(X, y)
        >>> path = xpnet.export_onnx(clf, "clf.onnx")
        >>> proba, label = onnxruntime.InferenceSession(path).run(None, {"x": X.astype("f4")})
        >>> bool(np.allclose(proba, clf.predict_proba(X), atol=1e-5))
        True
    """
    ndx, onnx, ort = (_require(name) for name in ("ndonnx", "onnx", "onnxruntime"))
    x = ndx.argument(shape=("N", _n_features(model)), dtype=ndx.float32)
    proto = _fold(ndx.build({"x": x}, _outputs(model, x, ndx)), onnx, ort)
    if opset is not None:
        try:
            proto = onnx.version_converter.convert_version(proto, int(opset))
        except RuntimeError as err:
            raise ValueError(f"opset={opset!r}: onnx cannot convert this graph ({err}); use "
                             f"opset=None (ndonnx's own) or a newer opset") from err
    path = Path(path)
    onnx.save(proto, path)
    return path


def _require(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise BackendUnavailableError(f"export_onnx needs {name}, which is not installed; "
                                      f"fix: pip install -e '.[onnx]' in an xpnet "
                                      f"checkout") from err


def _fold(proto: Any, onnx: Any, ort: Any) -> Any:
    """``proto`` after onnxruntime's basic (portable, standard-ops) optimizations: ndonnx records
    how each weight was made (the rebuilt model's first buffer, its slices, the loaded values),
    and constant folding leaves only the weights (a graph several times smaller)."""
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        ort.InferenceSession(proto.SerializeToString(), options,
                             providers=["CPUExecutionProvider"])
        folded = onnx.load(options.optimized_model_filepath)
    domains = {o.domain for o in proto.opset_import}  # not the runtime's own, unused ones
    imports = [o for o in folded.opset_import if o.domain in domains]
    del folded.opset_import[:]
    folded.opset_import.extend(imports)
    onnx.checker.check_model(folded, full_check=True)
    return folded


def _unsupported(model: Any) -> TypeError:
    return TypeError(f"model={type(model).__name__} cannot be exported to ONNX; pass a fitted "
                     f"MLPClassifier/MLPRegressor, network (Network, SimpleConvNet, "
                     f"MultiLayerNet(Extend)), seed model, or a Pipeline of scalers ending in one")


def _n_features(model: Any) -> int:
    if not isinstance(model, (Pipeline, MLPClassifier, MLPRegressor, Network, SingleLayer)):
        raise _unsupported(model)
    if isinstance(model, Network):
        return math.prod(model.input_shape)
    n = getattr(model, "n_features_in_", None) or getattr(model, "input_size", None)
    if n is None:
        raise ValueError(f"model={type(model).__name__} is not fitted (no n_features_in_); "
                         f"call fit before export_onnx")
    return int(n)


def _outputs(model: Any, x: Any, ndx: Any) -> dict[str, Any]:
    """The ONNX outputs by name: ``model``'s forward on the symbolic batch ``x``."""
    if isinstance(model, Pipeline):
        for name, step in model.steps[:-1]:
            x = x if step in (None, "passthrough") else _scale(step, name, x, ndx)
        return _outputs(model.steps[-1][1], x, ndx)
    if isinstance(model, (MLPClassifier, MLPRegressor)):
        check_is_fitted(model)
        classes = getattr(model, "classes_", None)
        squeeze = isinstance(model, MLPRegressor) and model.n_outputs_ == 1
        return _network(_on_ndonnx(model.network_), x, ndx, classes, squeeze)
    if isinstance(model, Network):
        return _network(_on_ndonnx(model), x, ndx, None, False)
    if isinstance(model, SingleLayer):
        seed = _on_ndonnx(model)
        z = seed.forpass(x)
        return {"probabilities": seed.activation(z), "label": z > 0.0}
    raise _unsupported(model)


def _network(net: Network, x: Any, ndx: Any, classes: Any, squeeze: bool
             ) -> dict[str, Any]:
    z = net.forward(x, False)
    if not net.is_classifier:
        return {"predictions": ndx.reshape(z, (-1,)) if squeeze else z}
    idx = net.last_layer.labels(z)
    if classes is not None:
        classes = np.asarray(classes)
        idx = ndx.take(ndx.asarray(classes.astype(str) if classes.dtype.kind in "OU"
                                   else classes), idx, axis=0)
    return {"probabilities": net.last_layer.probabilities(z), "label": idx}


def _on_ndonnx(model: Any) -> Any:
    """``model`` rebuilt from its description on the ndonnx backend, in float32."""
    desc = describe(model, to_host=True)
    desc["config"] = {**desc["config"], "dtype": "float32"}
    return rebuild(desc, backend=importlib.import_module("ndonnx"))


def _scale(step: Any, name: str, x: Any, ndx: Any) -> Any:
    kind = type(step).__name__
    if kind not in SCALERS:
        raise TypeError(f"Pipeline step {name!r} is a {kind}, which export_onnx cannot "
                        f"export; use one of {', '.join(SCALERS)} (or remove the step)")
    check_is_fitted(step)
    scale, offset = (np.asarray(a, dtype=np.float32) for a in SCALERS[kind](step))
    x = x * ndx.asarray(scale) + ndx.asarray(offset)
    if getattr(step, "clip", False):  # MinMaxScaler(clip=True)
        x = ndx.clip(x, *(float(v) for v in step.feature_range))
    return x


