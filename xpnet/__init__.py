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

__version__ = "0.1.0"

#: public name -> the module that defines it.  Imported on first use (PEP 562), so that
#: ``import xpnet`` and the command line start quickly and a Ctrl-C during start-up lands
#: in the command line's own handler
_EXPORTS = {
    **dict.fromkeys(("Backend", "BackendUnavailableError", "get_backend"), "xpnet.backends"),
    **dict.fromkeys(("Affine", "BatchNorm", "BatchNormalization", "Dense", "Dropout",
                     "Identity", "ReLU", "Relu", "Sigmoid", "Tanh"), "xpnet.nn.layers"),
    **dict.fromkeys(("BinaryCrossEntropy", "MeanSquaredError", "SoftmaxCrossEntropy",
                     "SoftmaxWithLoss"), "xpnet.nn.losses"),
    **dict.fromkeys(("MultiLayerNet", "MultiLayerNetExtend", "Network", "SimpleConvNet"),
                    "xpnet.nn.network"),
    **dict.fromkeys(("SGD", "AdaGrad", "Adam", "AdamW", "Momentum", "Nesterov", "RMSprop"),
                    "xpnet.nn.optimizers"),
    **dict.fromkeys(("DualLayer", "MinibatchNetwork", "RandomInitNetwork", "SingleLayer"),
                    "xpnet.nn.seed_models"),
    **dict.fromkeys(("DivergenceError", "History", "Trainer"), "xpnet.nn.trainer"),
    **dict.fromkeys(("MLPClassifier", "MLPRegressor"), "xpnet.edges.estimators"),
    **dict.fromkeys(("load", "save"), "xpnet.edges.io"),
    "export_onnx": "xpnet.edges.onnx_export", "random_search": "xpnet.edges.search",
}
#: public submodules
_MODULES = {"optimizers": "xpnet.nn.optimizers", "datasets": "xpnet.edges.datasets",
            "plot": "xpnet.edges.plot", "search": "xpnet.edges.search"}

__all__ = [*_MODULES, *_EXPORTS]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: a public name, imported on first use
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xpnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
