"""The generic Array API backend: what every library's class shares, and the reference kernels.

A subclass per library (``numpy_backend``, ``torch_backend``, ``cupy_backend``,
``strict_backend``, ``namespace``) replaces only what its library does better or differently:
its namespace, device, random generator, moves to the host, and its fused kernels.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import math
import sys
import types
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

_FLOAT_DTYPES = ("float32", "float64")


class BackendUnavailableError(ImportError, RuntimeError):
    """A backend that was asked for cannot be had here (library missing, or no GPU).

    Example:
        >>> try:
        ...     import_library("no_such_lib", "pip install it", "nsl")
        ... except ImportError as err:  # an ImportError too, for code that expects one
        ...     print(type(err).__name__)
        BackendUnavailableError
    """


def library_of(x: Any) -> str | None:
    """Name the array library ``x`` belongs to, or None for host data (lists, scalars).

    Example:
        >>> import numpy as np
        >>> library_of(np.zeros(2)), library_of([1.0])
        ('numpy', None)
    """
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if type(x).__module__.startswith("array_api_strict"):
        return "array_api_strict"
    if array_api_compat.is_jax_array(x):
        return "jax"
    if array_api_compat.is_dask_array(x):
        return "dask"
    return None


def is_host(x: Any) -> bool:
    """True for host data: NumPy arrays, lists and scalars (what models accept from anyone).

    Example:
        >>> import numpy as np
        >>> is_host(np.zeros(2)), is_host([1.0])
        (True, True)
    """
    return library_of(x) in (None, "numpy")


def namespace_of(*arrays: Any) -> Any:
    """The Array API namespace of ``arrays`` (for code handed arrays rather than a model).

    Example:
        >>> import numpy as np
        >>> namespace_of(np.zeros(2)).__name__
        'array_api_compat.numpy'
    """
    return array_api_compat.array_namespace(*arrays)


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "__name__", None) or str(dtype)
    name = name.rsplit(".", 1)[-1]
    if name not in _FLOAT_DTYPES:
        raise ValueError(
            f"dtype={dtype!r} is not a floating dtype xpnet trains in; "
            f"use dtype='float32' (the default) or dtype='float64'"
        )
    return name


def _seed(random_state: Any) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        raise TypeError(
            f"random_state={random_state!r} must be an int or None; pass e.g. random_state=0"
        )
    return int(random_state)


def import_library(module: str, fix: str, spec: str) -> Any:
    """Import an array library for ``backend=spec``, or raise the error that says ``fix``.

    Example:
        >>> import_library("numpy", "pip install numpy", "numpy").__name__
        'numpy'
        >>> import_library("no_such_lib", "pip install it", "nsl")
        Traceback (most recent call last):
        ...
        xpnet.backends.base.BackendUnavailableError: backend='nsl' needs no_such_lib, ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendUnavailableError(
            f"backend={spec!r} needs {module}, which is not installed; fix: {fix}"
        ) from err


class Backend:
    """An Array API namespace bound to a device, a float dtype and a seeded generator.

    The generic backend: random numbers are drawn on the host and moved once, and the kernels
    are the Array API reference.  Each library's subclass replaces what it does better.

    Attributes:
        name: "numpy", "cupy", "torch", "array_api_strict" or the module name of a namespace.
        xp: the Array API namespace used by every layer, loss and optimizer.
        device: the device arrays are created on (None where the library has one device).
        dtype: the float dtype of parameters and activations (an ``xp`` dtype object).
        dtype_name: "float32" or "float64".
        seed: the integer the generators were seeded with.
        adam, softmax_cross_entropy, softmax, conv2d, conv2d_backward: the fused kernels,
            chosen when the backend is built: a callable that computes what the Array API
            reference computes (``Adam.step`` in ``xpnet.nn.optimizers``,
            ``SoftmaxCrossEntropy.forward`` and ``softmax`` in ``xpnet.nn.losses``,
            ``Convolution`` in ``xpnet.nn.conv``), or None, and the reference runs.

    Example:
        >>> import array_api_strict
        >>> b = Backend(array_api_strict, dtype="float64", random_state=0)
        >>> b.zeros(2).dtype == array_api_strict.float64, b.adam is None
        (True, True)
    """

    name = "array-api"
    #: the kernels' description for ``xpnet env`` and benchmark records
    kernels = "array-api"
    adam: Callable[..., None] | None = None
    softmax_cross_entropy: Callable[[Any, Any], tuple[Any, Any]] | None = None
    softmax: Callable[[Any], Any] | None = None
    conv2d: Callable[..., Any] | None = None
    conv2d_backward: Callable[..., tuple[Any, Any, Any]] | None = None

    def __init__(self, xp: Any = None, device: Any = None, dtype: Any = "float32",
                 random_state: int | None = None) -> None:
        xp, device = self._open(xp, device)
        self.xp, self.device = xp, device
        self.dtype_name = _dtype_name(dtype)
        self.dtype = getattr(xp, self.dtype_name)
        self.index_dtype = xp.int64
        self.seed = _seed(random_state)
        # legacy RandomState: random_state=42 draws exactly the seeds' np.random.seed(42) weights
        self.host_rng = np.random.RandomState(self.seed)
        self._device_rng = self._make_device_rng(self.seed + 1)

    def _open(self, xp: Any, device: Any) -> tuple[Any, Any]:
        """(namespace, device) for the ``xp`` (None: the library's own) and ``device`` asked
        for: a library's class imports its library here, or raises BackendUnavailableError."""
        return xp, device

    def _asked(self, device: Any) -> str:
        """The ``backend=`` string a constructor was asked for (for error messages)."""
        return self.name if device is None else f"{self.name}:{device}"

    # ----------------------------------------------------------------- description
    @property
    def ops(self) -> Backend:
        """The kernels object (``matmul``, ``sum_rows``, ``adam``, ``softmax_cross_entropy``):
        the backend itself, one per model, so models never share scratch buffers."""
        return self

    def describe(self) -> str:
        """Which kernels run (for ``xpnet env`` and benchmark records)."""
        return self.kernels

    @property
    def spec(self) -> str:
        """The ``backend=`` string that rebuilds this backend (e.g. "torch:cuda:0")."""
        dev = self.device_name
        return self.name if dev in ("cpu", "") else f"{self.name}:{dev}"

    @property
    def device_name(self) -> str:
        """A short human name for the device ("cpu", "cuda:0", "device1")."""
        return "cpu" if self.device is None else str(self.device)

    @property
    def is_gpu(self) -> bool:
        """True for devices whose work runs asynchronously (CUDA)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, dtype={self.dtype_name!r}, seed={self.seed})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (and deep-copied) as what rebuilds it: a library's backend as its spec,
        dtype and seed; any other namespace's by its module's name.  Generators start again
        from the seed; modules, devices and kernels are not copied."""
        from . import BACKENDS  # noqa: PLC0415 - the table of classes imports this module

        if BACKENDS.get(self.name) is type(self):
            return _from_spec, (self.spec, self.dtype_name, self.seed)
        return type(self), (ModuleRef(self.xp), self.device, self.dtype_name, self.seed)

    # ----------------------------------------------------------------- what benchmarks record
    def device_label(self) -> str:
        """The device for tables and benchmark records ("cpu", "cuda:0", "device1")."""
        return self.device_name

    def compute_key(self) -> str:
        """The array library and device that do this backend's arithmetic, as one key
        ("torch:cpu", "cupy:cuda:0", "numpy"): rows with one key share one bare-GEMM timing
        in ``xpnet bench``."""
        return f"{self.name}:{self.device_label()}"

    def threads(self) -> int | None:
        """CPU threads of this backend's kernels: NumPy's BLAS pool (read with threadpoolctl),
        None where it cannot be told."""
        try:
            from threadpoolctl import threadpool_info  # noqa: PLC0415 - optional
        except ImportError:
            return None
        blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
        numpys = [p for p in blas if "numpy" in p.get("filepath", "")]  # not SciPy's or torch's
        return int((numpys or blas)[0]["num_threads"]) if blas else None

    def memory_probe(self) -> MemoryProbe:
        """A probe of this process's peak resident memory from now on: on Linux the
        high-water mark (``VmHWM``), reset when the probe opens; elsewhere the growth of
        ``ru_maxrss`` (a lower bound: zero while an earlier peak was higher)."""
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets the high-water mark to the current resident set
            return MemoryProbe("rss-hwm", _vm_hwm_bytes)
        except (OSError, ValueError, StopIteration):
            return MemoryProbe("ru_maxrss-delta", _maxrss_bytes)

    def device_context(self) -> contextlib.AbstractContextManager:
        """A context in which this backend's device is the current one, for work on arrays
        made outside its methods; nothing to enter here."""
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- moving data
    def owns(self, x: Any) -> bool:
        """True if ``x`` is an array of this backend's library (used as it is)."""
        return library_of(x) == self.name

    def asarray(self, x: Any, dtype: Any = None, name: str = "x") -> Any:
        """Move host data (NumPy arrays, lists) onto this backend once.

        Arrays already on this backend are returned as they are (cast if ``dtype`` differs);
        arrays of another library raise TypeError rather than being copied silently.
        ``dtype=None`` means the backend's float dtype; pass ``"int64"`` for labels.
        """
        xp = self.xp
        target = self.dtype if dtype is None else (
            getattr(xp, dtype) if isinstance(dtype, str) else dtype)
        if self.owns(x):
            return x if x.dtype == target else xp.astype(x, target)
        if not is_host(x):
            raise TypeError(
                f"{name} is a {library_of(x)} array but this model runs on backend={self.spec!r}; "
                f"pass a NumPy array (moved once) or an array of the model's own library"
            )
        return xp.asarray(np.asarray(x), dtype=target, device=self.device)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        """``x``, an array of this class's library, copied to NumPy."""
        if library_of(x) is None and hasattr(x, "__dlpack__") and not isinstance(x, np.ndarray):
            return np.from_dlpack(x)
        return np.asarray(x)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Copy ``x`` (an array of any supported library, or host data) to a NumPy array."""
        from . import BACKENDS  # noqa: PLC0415 - the table of classes imports this module

        return BACKENDS.get(library_of(x), Backend).to_host(x)

    def to_float(self, x: Any) -> float:
        """A 0-d array (or scalar) as a Python float: one host sync."""
        return float(self.to_numpy(x))

    def host_floats(self, scalars: list[Any], arrays: list[Any] = ()) -> list[float]:
        """The values of ``scalars`` (0-d device arrays or Python numbers), then the elements
        of the 1-d device ``arrays``, as Python floats rounded to the model's dtype, brought
        to the host in ONE transfer (the Trainer's one sync per check).

        Example:
            >>> import array_api_strict
            >>> b = Backend(array_api_strict, dtype="float32")
            >>> b.host_floats([0.1, b.zeros(())], [b.zeros(2)])
            [0.10000000149011612, 0.0, 0.0, 0.0]
        """
        xp = self.xp
        parts = [xp.stack([xp.reshape(xp.asarray(v, dtype=self.dtype, device=self.device), ())
                           for v in scalars]), *arrays]
        return self.to_numpy(xp.concat(parts)).tolist()

    def all_finite(self, x: Any) -> bool:
        """True when no element of ``x``, an array of this backend's library, is NaN or
        infinite: one answer on the host (a sync).  Input validation asks it of a model's own
        arrays; a backend may answer in fewer passes than ``all(isfinite(x))``.

        Example:
            >>> import array_api_strict as xps
            >>> b = Backend(xps, dtype="float32")
            >>> b.all_finite(xps.ones(3)), b.all_finite(xps.asarray([1.0, xps.inf]))
            (True, False)
        """
        xp = self.xp
        return bool(xp.all(xp.isfinite(x)))

    def expect_steps(self, steps: int) -> None:
        """A training run of ``steps`` steps begins (a backend may prepare kernels that pay off
        over a long run; NumPy loads its compiled ones).  Nothing here."""

    def sync(self) -> None:
        """Wait for queued device work (before reading a clock); nothing to wait for here."""

    def zeros(self, shape: int | tuple[int, ...], dtype: Any = None) -> Any:
        """Zeros of the model's dtype on the model's device."""
        return self.xp.zeros(shape, dtype=self.dtype if dtype is None else dtype,
                             device=self.device)

    # ----------------------------------------------------------------- randomness
    def _make_device_rng(self, seed: int) -> Any:
        return np.random.default_rng(seed)  # drawn on the host, moved once (_from_host)

    def _from_host(self, arr: np.ndarray) -> Any:
        return self.xp.asarray(arr, device=self.device)

    def host_normal(self, shape: tuple[int, ...], std: float = 1.0) -> Any:
        """N(0, std^2) drawn on the host from the seed, then moved once.

        Used for initial weights, so the same seed gives the same weights on every backend.
        """
        return self.xp.asarray(self.host_init(shape, std), device=self.device)

    def host_init(self, shape: tuple[int, ...], scale: float | str) -> np.ndarray:
        """A host (NumPy) array of the model's dtype: N(0, scale^2) from the seed, or the
        constant rule "ones" / "zeros".  Inside :func:`allocation_budget`, refused (ValueError)
        before allocating once the model's initial values would exceed the budget."""
        budget = _BUDGET.get()
        if budget is not None:
            budget[0] -= math.prod(shape)
            if budget[0] < 0:
                raise ValueError(f"the model described needs more than the {budget[1]} values "
                                 f"its file holds (at a {tuple(shape)} parameter); the file "
                                 f"was damaged or built to exhaust memory")
        if scale == "ones":
            return np.ones(shape, dtype=self.dtype_name)
        if scale == "zeros":
            return np.zeros(shape, dtype=self.dtype_name)
        return (self.host_rng.standard_normal(shape) * scale).astype(self.dtype_name)

    def flat_from_host(self, parts: list[np.ndarray]) -> Any:
        """Concatenate host arrays into one flat buffer and move it to the device once."""
        flat = np.concatenate([np.asarray(p, dtype=self.dtype_name).ravel() for p in parts])
        return self.xp.asarray(flat, device=self.device)

    def normal(self, shape: tuple[int, ...], std: float = 1.0) -> Any:
        """N(0, std^2) drawn on the device."""
        return self._from_host(self._device_rng.standard_normal(shape, dtype=self.dtype_name)
                               * std)

    def uniform(self, shape: tuple[int, ...]) -> Any:
        """U[0, 1) drawn on the device."""
        return self._from_host(self._device_rng.random(shape, dtype=self.dtype_name))

    def permutation(self, n: int) -> Any:
        """A random permutation of ``range(n)`` as an index array on the device, drawn on the
        host from the seed (after the initial weights) and moved once: the same
        ``random_state`` shuffles alike on every backend, so runs without dropout are the
        same computation everywhere (and the seeds' ``np.random.seed`` order is kept)."""
        return self.xp.asarray(self.host_rng.permutation(n), device=self.device)

    def dropout_mask(self, shape: tuple[int, ...], keep_prob: float) -> Any:
        """Inverted-dropout mask: 1/keep_prob with probability keep_prob, else 0."""
        keep = self.uniform(shape) < keep_prob
        return self.xp.astype(keep, self.dtype) * (1.0 / keep_prob)

    # ----------------------------------------------------------------- reference kernels
    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        """a @ b, into ``out`` (e.g. a view of a flat gradient buffer) when given."""
        return _into(a @ b, out)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        """The column sums of a 2-d array (sum over axis 0), into ``out`` when given."""
        return _into(self.xp.sum(a, axis=0), out)

    def affine(self, x: Any, w: Any, b: Any) -> Any:
        """x @ w + b for 2-d ``x`` and a bias ``b`` added to every row (a Dense layer's
        forward): the product, then :meth:`add_rows` in place on it."""
        return self.add_rows(x @ w, b)

    def affine_relu(self, x: Any, w: Any, b: Any) -> Any:
        """max(x @ w + b, 0): a Dense layer's forward and the ReLU's after it as one step (what
        a network runs in eval mode); here :meth:`affine`, then :meth:`relu_owned` on the fresh
        result."""
        return self.relu_owned(self.affine(x, w, b))

    def affine_checked(self, x: Any, w: Any, b: Any, relu: bool) -> tuple[Any, bool]:
        """(x @ w + b, with the ReLU after it when ``relu``; True when x @ w + b is all finite):
        the first step of a forward on features not yet checked for NaN/inf, where the check
        of the (narrower) product stands in for a read of the features (see
        ``Network.forward_unchecked``).  Here :meth:`affine`, :meth:`all_finite` on it, then
        :meth:`relu_owned`.

        Example:
            >>> import numpy as np
            >>> from xpnet.backends import get_backend
            >>> b = get_backend("numpy", dtype="float64")
            >>> z, finite = b.affine_checked(np.array([[1.0, -2.0]]), np.eye(2), np.zeros(2), True)
            >>> z.tolist(), finite
            ([[1.0, 0.0]], True)
        """
        return self._checked(self.affine(x, w, b), relu)

    def _checked(self, z: Any, relu: bool) -> tuple[Any, bool]:
        """:meth:`affine_checked` from a fresh x @ w + b."""
        finite = self.all_finite(z)
        return (self.relu_owned(z) if relu else z), finite

    def add_rows(self, z: Any, b: Any) -> Any:
        """z + b, a bias ``b`` added to every row of the 2-d ``z``, in place: ``z`` is a fresh
        product that nothing else holds (a Dense layer's ``x @ W``).  Returns ``z``."""
        z += b
        return z

    def relu_owned(self, x: Any) -> Any:
        """max(x, 0) for an ``x`` that the caller owns (a fresh product nothing else holds):
        in place where the library allows it; here a new array."""
        return self.xp.maximum(x, 0.0)

    def relu_grad(self, y: Any, dout: Any) -> Any:
        """ReLU's backward from its output ``y``: ``dout`` where y > 0, else 0."""
        return self.xp.where(y > 0.0, dout, 0.0)


def _from_spec(spec: str, dtype: str, seed: int) -> Backend:
    from . import get_backend  # noqa: PLC0415 - the table of classes imports this module

    return get_backend(spec, dtype, seed)


class ModuleRef:
    """A module, pickled (and deep-copied) by name: unpickling imports it again, so objects
    holding a namespace module (``backend=array_api_strict``) can be pickled and copied.

    Example:
        >>> import copy, pickle, array_api_strict
        >>> pickle.loads(pickle.dumps(ModuleRef(array_api_strict))) is array_api_strict
        True
        >>> copy.deepcopy(ModuleRef(array_api_strict)) is array_api_strict
        True
    """

    def __init__(self, module: types.ModuleType) -> None:
        self.name = module.__name__

    def __reduce__(self) -> tuple[Any, ...]:
        return importlib.import_module, (self.name,)


class MemoryProbe:
    """How far a peak of memory use grew since the probe opened (``Backend.memory_probe``).

    ``read()`` gives the peak now, in bytes; ``method`` names what it reads, for records.

    Example:
        >>> peaks = iter([100, 150])
        >>> probe = MemoryProbe("a counter", lambda: next(peaks))
        >>> probe.peak_bytes()
        50
    """

    def __init__(self, method: str, read: Callable[[], int]) -> None:
        self.method, self._read = method, read
        self.base = int(read())

    def peak_bytes(self) -> int:
        """Bytes the peak grew by since the probe opened."""
        return max(int(self._read()) - self.base, 0)


def _vm_hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024


def _maxrss_bytes() -> int:
    import resource  # noqa: PLC0415 - POSIX only

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB elsewhere


def _into(result: Any, out: Any) -> Any:
    if out is None:
        return result
    out[...] = result
    return out


def namespace_copy(xp: Any) -> Any:
    """A copy of namespace ``xp`` whose functions can be replaced one by one.

    Example:
        >>> import array_api_compat.numpy as xp
        >>> ns = namespace_copy(xp)
        >>> ns.sum is xp.sum, ns.__name__
        (True, 'array_api_compat.numpy')
    """
    ns = types.SimpleNamespace(**{k: v for k, v in vars(xp).items() if not k.startswith("__")})
    ns.__array_api_version__ = xp.__array_api_version__
    ns.__name__ = xp.__name__
    return ns


_BUDGET: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "xpnet_allocation_budget", default=None)


@contextlib.contextmanager
def allocation_budget(values: int) -> Any:
    """Within the block, the initial weights drawn by every backend (:meth:`Backend.host_init`)
    may total at most ``values`` numbers: a model file bounds the model its config describes
    by the arrays it lists, before anything that large is allocated.

    Example:
        >>> from xpnet.backends import get_backend
        >>> with allocation_budget(10):
        ...     get_backend("numpy").host_init((3, 3), 1.0).shape
        (3, 3)
    """
    token = _BUDGET.set([int(values), int(values)])
    try:
        yield
    finally:
        _BUDGET.reset(token)
