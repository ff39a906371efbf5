"""How a model describes itself, and is rebuilt from that description.

Every class that can be saved, pickled or copied (networks, seed models, optimizers,
estimators) is a :class:`Saveable`: it says what it is (``get_config()``: its constructor
arguments) and what it holds (``state_values()``: small JSON values such as fitted counts or
curves; ``state_arrays()``: its named arrays; ``state_children()``: models it contains), and it
is rebuilt from exactly that through its own constructor, :meth:`Saveable.load_state` and
:meth:`Saveable.load_state_arrays`.  Model files (:mod:`xpnet.edges.io`), pickling and
``copy.deepcopy`` all use this one description, so none of them knows a class's internals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from ..backends import Backend, BackendUnavailableError, get_backend

__all__ = ["Saveable", "describe", "rebuild", "resolve_saved_backend", "init_parameters"]


class Saveable:
    """Base class of the models that describe themselves.

    Subclasses define ``get_config`` and whichever of the ``state_*`` methods they need; a
    model with a ``backend`` attribute is rebuilt on the same backend (or the one asked for).

    Example:
        >>> import copy, xpnet
        >>> net = xpnet.MultiLayerNet(3, [4], 2, random_state=0)
        >>> sorted(net.state_arrays())[:2]
        ['params.W1', 'params.W2']
        >>> copy.deepcopy(net).get_config() == net.get_config()
        True
    """

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON types) that rebuild this model, untrained."""
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    def state_values(self) -> dict[str, Any]:
        """Small learned values as JSON types (fitted counts, curves); empty by default."""
        return {}

    def state_arrays(self) -> dict[str, Any]:
        """The learned arrays by name (arrays of the model's backend, not copies)."""
        return {}

    def state_children(self) -> dict[str, Saveable]:
        """Models held by this one (an estimator's network and optimizer)."""
        return {}

    def load_state(self, values: dict[str, Any], children: dict[str, Saveable]) -> None:
        """Take ``values`` and ``children`` (already rebuilt); afterwards ``state_arrays()``
        names and shapes the arrays to load.  Raises TypeError/ValueError for bad values."""
        if values or children:
            raise ValueError(f"{type(self).__name__} holds no values or models, got "
                             f"{sorted(values)} and {sorted(children)}")

    def load_state_arrays(self, arrays: dict[str, Any]) -> None:
        """Copy ``arrays`` (host or device, already checked against ``state_arrays()``) in."""
        for key, value in arrays.items():
            current = self.state_arrays()[key]
            current[...] = self.backend.asarray(value, dtype=current.dtype, name=key)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        # pickling and copy.deepcopy go through the description (host arrays), so a model
        # holding modules, device generators or compiled kernels copies and pickles anywhere
        return rebuild, (describe(self, to_host=True),)


def describe(model: Saveable, to_host: bool = False) -> dict[str, Any]:
    """The model's description: class, config, backend, seed and the state of its host
    generator (``rng_state``: the next shuffles), values, arrays, children.

    ``to_host=True`` copies the arrays to NumPy (for files and pickles).

    Example:
        >>> import xpnet
        >>> desc = describe(xpnet.MultiLayerNet(3, [4], 2, random_state=0))
        >>> desc["backend"], sorted(desc["rng_state"])
        ('numpy', ['gauss', 'has_gauss', 'key', 'pos'])
    """
    backend = getattr(model, "backend", None)
    arrays = model.state_arrays()
    if to_host and arrays:
        arrays = {k: backend.to_numpy(v) for k, v in arrays.items()}
    out = {"class": type(model), "config": model.get_config(), "values": model.state_values(),
           "arrays": arrays,
           "children": {k: describe(c, to_host) for k, c in model.state_children().items()}}
    if isinstance(backend, Backend):
        _, key, pos, has_gauss, gauss = backend.host_rng.get_state()  # legacy MT19937
        out.update(backend=backend.spec, seed=backend.seed, dtype=backend.dtype_name,
                   rng_state={"key": key.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
                              "gauss": float(gauss)})
    return out


def _restore_rng(backend: Backend, state: Any) -> None:
    """Set the host generator (initial weights, shuffles) to a recorded ``rng_state``."""
    ok = isinstance(state, dict) and set(state) == {"key", "pos", "has_gauss", "gauss"}
    key = state.get("key") if ok else None
    if not (ok and isinstance(key, list) and len(key) == 624
            and all(type(k) is int and 0 <= k < 2**32 for k in key)
            and type(state["pos"]) is int and 0 <= state["pos"] <= 624
            and state["has_gauss"] in (0, 1) and type(state["has_gauss"]) is int
            and type(state["gauss"]) in (int, float) and math.isfinite(state["gauss"])):
        raise ValueError("rng_state must be an MT19937 state: key (624 integers in [0, 2**32)), "
                         "pos in [0, 624], has_gauss 0 or 1 and a finite gauss")
    backend.host_rng.set_state(("MT19937", key, state["pos"], state["has_gauss"],
                                float(state["gauss"])))


def rebuild(description: dict[str, Any], backend: Any = None,
            check: Callable[[Saveable, dict[str, Any], str], None] | None = None,
            where: str = "model") -> Saveable:
    """Build a model from :func:`describe`'s output through its own constructor.

    Example:
        >>> import xpnet
        >>> net = xpnet.MultiLayerNet(3, [4], 2, random_state=0)
        >>> rebuild(describe(net), backend="numpy").get_config() == net.get_config()
        True

    ``backend`` (a ``backend=`` value) overrides the recorded one; ``check(model, arrays,
    path)`` may inspect each model's arrays against ``model.state_arrays()`` before they are
    loaded (the model files do).  Children are built first and handed to their parent's
    ``load_state``; arrays are loaded once every model is wired.
    """
    built: list[tuple[Saveable, dict[str, Any], str]] = []
    root = _build(description, backend, built, "", where)
    for model, arrays, path in built:
        if check is not None:
            check(model, arrays, path)
        if arrays:
            model.load_state_arrays(arrays)
    return root


def _build(desc: dict[str, Any], backend: Any, built: list, path: str, where: str
           ) -> Saveable:
    cls, kwargs = desc["class"], dict(desc["config"])
    resolved = None
    if "backend" in desc:
        dtype = kwargs.get("dtype", desc.get("dtype", "float32"))
        resolved = resolve_saved_backend(desc["backend"], backend, dtype, desc.get("seed"), where)
        if "backend" in init_parameters(cls):
            kwargs.update(backend=resolved, random_state=resolved.seed)
    elif backend is not None and "backend" in init_parameters(cls):
        kwargs["backend"] = backend
    model = cls(**kwargs)
    if resolved is not None and hasattr(model, "bind"):
        model.bind(resolved)  # an optimizer: its state lives on the recorded backend
    if "rng_state" in desc and isinstance(getattr(model, "backend", None), Backend):
        _restore_rng(model.backend, desc["rng_state"])  # after the weights were drawn
    children = {name: _build(child, backend, built, f"{path}{name}.", where)
                for name, child in desc.get("children", {}).items()}
    model.load_state(desc.get("values", {}), children)
    built.append((model, desc.get("arrays", {}), path))
    return model


def init_parameters(cls: type) -> tuple[str, ...]:
    """The names of ``cls``'s constructor arguments (``self`` aside): what a config may hold.

    Example:
        >>> from xpnet.nn.optimizers import Momentum
        >>> init_parameters(Momentum)
        ('lr', 'momentum')
    """
    code = cls.__init__.__code__
    return code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount]


def resolve_saved_backend(saved: Any, requested: Any, dtype: str, seed: Any, where: str
                          ) -> Backend:
    """The requested backend; else the saved one if it can be had here; else NumPy, with a
    RuntimeWarning (a model trained with CuPy loads on a CPU machine).

    Example:
        >>> b = resolve_saved_backend("numpy", None, "float64", 0, "model.npz")
        >>> b.spec, b.dtype_name
        ('numpy', 'float64')
        >>> resolve_saved_backend("cupy", "numpy", "float32", 0, "model.npz").spec  # requested
        'numpy'
    """
    if requested is not None:
        return get_backend(requested, dtype, seed)
    if not isinstance(saved, str):
        raise TypeError(f"backend={saved!r} must be a backend name")
    try:
        return get_backend(saved, dtype, seed)
    except (BackendUnavailableError, ImportError) as err:
        warnings.warn(f"{where} was saved on backend={saved!r}, which is not available here "
                      f"({err}); loading it on NumPy instead (pass backend= to choose)",
                      RuntimeWarning, stacklevel=5)
        return get_backend("numpy", dtype, seed)
