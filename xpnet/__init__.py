"""xpnet: readable neural networks written once against the Python Array API.

The same layers, losses and optimizers train on NumPy (default), CuPy (``backend="cupy"``),
PyTorch (``backend="torch"``/``"torch:cuda"``) and ``array_api_strict``.

The package has four layers; each imports only the ones below it (import-linter checks this):

- ``xpnet.tools``: the command line and the backend benchmark;
- ``xpnet.edges``: host-side edges: scikit-learn estimators, io, datasets, plot, search;
- ``xpnet.nn``: the math, which sees only ``xp``: layers, losses, optimizers, init, networks,
  the Trainer and the seed models;
- ``xpnet.backends``: one class per array library, and the validation of host inputs that
  move onto a backend.

Example:
    >>> import xpnet
    >>> net = xpnet.MultiLayerNetExtend(4, [8], 3, random_state=0)
    >>> net.predict([[0.0, 1.0, 2.0, 3.0]]).shape
    (1, 3)
"""

import importlib
import importlib.abc
import importlib.util
import sys

from .backends import Backend, BackendUnavailableError, get_backend
from .edges import datasets, plot, search
from .edges.estimators import MLPClassifier, MLPRegressor
from .edges.io import load, save
from .edges.onnx_export import export_onnx
from .edges.search import random_search
from .nn import optimizers
from .nn.layers import (
    Affine,
    BatchNorm,
    BatchNormalization,
    Dense,
    Dropout,
    Identity,
    ReLU,
    Relu,
    Sigmoid,
    Tanh,
)
from .nn.losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy, SoftmaxWithLoss
from .nn.network import MultiLayerNet, MultiLayerNetExtend
from .nn.optimizers import SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop
from .nn.seed_models import DualLayer, MinibatchNetwork, RandomInitNetwork, SingleLayer
from .nn.trainer import DivergenceError, History, Trainer

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendUnavailableError", "get_backend", "optimizers", "datasets", "plot", "search",
    "Affine", "BatchNorm", "BatchNormalization", "Dense", "Dropout", "Identity", "ReLU", "Relu",
    "Sigmoid", "Tanh",
    "BinaryCrossEntropy", "MeanSquaredError", "SoftmaxCrossEntropy", "SoftmaxWithLoss",
    "MultiLayerNet", "MultiLayerNetExtend",
    "SGD", "AdaGrad", "Adam", "AdamW", "Momentum", "Nesterov", "RMSprop",
    "DualLayer", "MinibatchNetwork", "RandomInitNetwork", "SingleLayer",
    "DivergenceError", "History", "Trainer",
    "MLPClassifier", "MLPRegressor", "load", "save", "random_search",
    "export_onnx",
]

#: module paths of xpnet 0.1's flat layout -> where they live now (``import xpnet.layers`` and
#: ``from xpnet.backend import get_backend`` keep working)
MOVED = {"xpnet.backend": "xpnet.backends", "xpnet.cpu_kernels": "xpnet.backends.numba_kernels",
         "xpnet.validation": "xpnet.backends.validation", "xpnet.cli": "xpnet.tools.cli",
         "xpnet.bench": "xpnet.tools.bench",
         **{f"xpnet.{m}": f"xpnet.nn.{m}" for m in ("init", "layers", "losses", "optimizers",
                                                     "network", "trainer", "seed_models")},
         **{f"xpnet.{m}": f"xpnet.edges.{m}" for m in ("estimators", "io", "datasets", "plot",
                                                        "search")}}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as the module at its new home (the same module object)."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):  # noqa: ANN001, ANN201
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # importlib overwrites __spec__; put it back below
        return module

    def exec_module(self, module):  # noqa: ANN001, ANN201
        module.__spec__ = module.__spec__.loader_state


sys.meta_path.append(_MovedModules())
