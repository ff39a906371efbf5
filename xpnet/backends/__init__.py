"""The one place that names array libraries.

A model resolves ``backend=`` once, when it is built, into a :class:`Backend`: the Array API
namespace ``xp`` (from ``array_api_compat``), the device, the float dtype, and the few things the
standard lacks (random numbers drawn on the device, host<->device moves, synchronization).
Layers, losses and optimizers hold ``xp`` and never look it up again. There is no global state:
two models on two backends live side by side in one process.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "BACKEND_NAMES",
    "get_backend",
    "namespace_of",
    "library_of",
]

#: the names ``backend=`` accepts (each may carry ":device", e.g. "torch:cuda")
BACKEND_NAMES = ("numpy", "cupy", "torch", "array_api_strict")

_FLOAT_DTYPES = ("float32", "float64")
_CUPY_FIX = 'pip install "xpnet[cuda12]" (or "xpnet[cuda13]" for CUDA 13)'


class BackendUnavailableError(ImportError, RuntimeError):
    """A backend that was asked for cannot be had here (library missing, or no GPU)."""


def library_of(x: Any) -> str | None:
    """Name the array library ``x`` belongs to, or None for host data (lists, scalars)."""
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


def namespace_of(*arrays: Any) -> Any:
    """The Array API namespace of ``arrays`` (for code handed arrays rather than a model)."""
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


class Backend:
    """An array library bound to a device, a float dtype and a seeded generator.

    Attributes:
        name: "numpy", "cupy", "torch", "array_api_strict" or the module name of a namespace.
        xp: the Array API namespace used by every layer, loss and optimizer.
        device: the device arrays are created on (None where the library has one device).
        dtype: the float dtype of parameters and activations (an ``xp`` dtype object).
        dtype_name: "float32" or "float64".
        seed: the integer the generators were seeded with.
    """

    def __init__(
        self,
        name: str,
        xp: Any,
        device: Any = None,
        dtype: Any = "float32",
        random_state: int | None = None,
        module: Any = None,
    ) -> None:
        self.name = name
        self.xp = xp
        self.device = device
        self.dtype_name = _dtype_name(dtype)
        self.dtype = getattr(xp, self.dtype_name)
        self.index_dtype = xp.int64
        self._module = module
        if random_state is None:
            random_state = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
        elif not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
            raise TypeError(
                f"random_state={random_state!r} must be an int or None; pass e.g. random_state=0"
            )
        self.seed = int(random_state)
        # legacy RandomState: random_state=42 draws exactly the seeds' np.random.seed(42) weights
        self.host_rng = np.random.RandomState(self.seed)
        self._device_rng = self._make_device_rng(self.seed + 1)
        #: the library's own kernels behind the few operations that need them (see ops_for)
        self.ops = ops_for(name if module is not None and name in ("numpy", "torch") else None,
                           xp, module)

    # ----------------------------------------------------------------- description
    @property
    def spec(self) -> str:
        """The ``backend=`` string that rebuilds this backend (e.g. "torch:cuda:0")."""
        dev = self.device_name
        return self.name if dev in ("cpu", "") else f"{self.name}:{dev}"

    @property
    def device_name(self) -> str:
        """A short human name for the device ("cpu", "cuda:0", "device1")."""
        if self.name == "cupy":
            return f"cuda:{self.device.id}"
        if self.name == "torch":
            return str(self.device)
        if self.name == "array_api_strict":
            return "cpu" if self.device is None else str(self.device).split("'")[1].lower()
        return "cpu" if self.device is None else str(self.device)

    @property
    def is_gpu(self) -> bool:
        """True for devices whose work runs asynchronously (CUDA)."""
        return self.name == "cupy" or (self.name == "torch" and self.device.type == "cuda")

    def __repr__(self) -> str:
        return f"Backend({self.spec!r}, dtype={self.dtype_name!r}, seed={self.seed})"

    # ----------------------------------------------------------------- moving data
    def owns(self, x: Any) -> bool:
        """True if ``x`` is an array of this backend's library (used as it is)."""
        lib = library_of(x)
        return lib == self.name or (self._module is not None and lib is None and
                                    hasattr(x, "__array_namespace__"))

    def asarray(self, x: Any, dtype: Any = None, name: str = "x") -> Any:
        """Move host data (NumPy arrays, lists) onto this backend once.

        Arrays already on this backend are returned as they are (cast if ``dtype`` differs);
        arrays of another library raise TypeError rather than being copied silently.
        ``dtype=None`` means the backend's float dtype; pass ``"int64"`` for labels.
        """
        xp = self.xp
        target = self.dtype if dtype is None else (
            getattr(xp, dtype) if isinstance(dtype, str) else dtype)
        lib = library_of(x)
        if self.owns(x):
            return x if x.dtype == target else xp.astype(x, target)
        if lib not in (None, "numpy"):
            raise TypeError(
                f"{name} is a {lib} array but this model runs on backend={self.spec!r}; "
                f"pass a NumPy array (moved once) or an array of the model's own library"
            )
        host = np.asarray(x)
        return xp.asarray(host, dtype=target, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Copy ``x`` (an array of any supported library, or host data) to a NumPy array."""
        lib = library_of(x)
        if lib == "cupy":
            return x.get()
        if lib == "torch":
            return x.detach().cpu().numpy()
        if lib == "array_api_strict":
            import array_api_strict  # noqa: PLC0415 - only reached with strict arrays

            return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))
        if lib is None and hasattr(x, "__dlpack__") and not isinstance(x, np.ndarray):
            return np.from_dlpack(x)
        return np.asarray(x)

    def to_float(self, x: Any) -> float:
        """A 0-d array (or scalar) as a Python float: one host sync."""
        return float(self.to_numpy(x))

    def sync(self) -> None:
        """Wait for queued device work (before reading a clock)."""
        if self.name == "cupy":
            self._module.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and self.device.type == "cuda":
            self._module.cuda.synchronize(self.device)

    def zeros(self, shape: int | tuple[int, ...], dtype: Any = None) -> Any:
        """Zeros of the model's dtype on the model's device."""
        return self.xp.zeros(shape, dtype=self.dtype if dtype is None else dtype,
                             device=self.device)

    # ----------------------------------------------------------------- randomness
    def _make_device_rng(self, seed: int) -> Any:
        if self.name == "cupy":
            with self.device:
                return self._module.random.RandomState(seed)
        if self.name == "torch":
            gen = self._module.Generator(device=self.device)
            gen.manual_seed(seed)
            return gen
        return np.random.default_rng(seed)  # numpy, and host draws moved once elsewhere

    def host_normal(self, shape: tuple[int, ...], std: float = 1.0) -> Any:
        """N(0, std^2) drawn on the host from the seed, then moved once.

        Used for initial weights, so the same seed gives the same weights on every backend.
        """
        return self.xp.asarray(self.host_init(shape, std), device=self.device)

    def host_init(self, shape: tuple[int, ...], scale: float | str) -> np.ndarray:
        """A host (NumPy) array of the model's dtype: N(0, scale^2) from the seed, or the
        constant rule "ones" / "zeros"."""
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
        if self.name == "cupy":
            with self.device:
                return self._device_rng.standard_normal(shape, dtype=self.dtype_name) * std
        if self.name == "torch":
            return self._module.randn(shape, generator=self._device_rng, device=self.device,
                                      dtype=self.dtype) * std
        draw = self._device_rng.standard_normal(shape, dtype=self.dtype_name) * std
        return self._from_host(draw)

    def uniform(self, shape: tuple[int, ...]) -> Any:
        """U[0, 1) drawn on the device."""
        if self.name == "cupy":
            with self.device:
                return self._device_rng.random_sample(shape, dtype=self.dtype_name)
        if self.name == "torch":
            return self._module.rand(shape, generator=self._device_rng, device=self.device,
                                     dtype=self.dtype)
        return self._from_host(self._device_rng.random(shape, dtype=self.dtype_name))

    def permutation(self, n: int) -> Any:
        """A random permutation of ``range(n)`` as an index array on the device."""
        if self.name == "cupy":
            with self.device:
                return self._device_rng.permutation(n)
        if self.name == "torch":
            return self._module.randperm(n, generator=self._device_rng, device=self.device)
        return self._from_host(self._device_rng.permutation(n))

    def dropout_mask(self, shape: tuple[int, ...], keep_prob: float) -> Any:
        """Inverted-dropout mask: 1/keep_prob with probability keep_prob, else 0."""
        keep = self.uniform(shape) < keep_prob
        return self.xp.astype(keep, self.dtype) * (1.0 / keep_prob)

    def _from_host(self, arr: np.ndarray) -> Any:
        if self.name == "numpy":
            return arr
        return self.xp.asarray(arr, device=self.device)


# --------------------------------------------------------------------- fast namespaces
def _namespace_copy(xp: Any) -> Any:
    """A copy of namespace ``xp`` whose functions can be replaced one by one."""
    ns = types.SimpleNamespace(**{k: v for k, v in vars(xp).items() if not k.startswith("__")})
    ns.__array_api_version__ = xp.__array_api_version__
    ns.__name__ = xp.__name__
    return ns


def _torch_namespace(xp: Any, torch: Any) -> Any:
    """array_api_compat's torch namespace with the few hot functions whose compat wrappers
    cost more than the work (Python-scalar arguments, dtype casts, row gathers) replaced by
    torch's own equivalents.  Same semantics, built once per backend resolution."""
    ns = _namespace_copy(xp)

    def maximum(x1: Any, x2: Any) -> Any:
        if isinstance(x2, (int, float)):
            return torch.clamp(x1, min=x2)
        return xp.maximum(x1, x2)

    def where(condition: Any, x1: Any, x2: Any) -> Any:
        if isinstance(x2, (int, float)) and isinstance(x1, torch.Tensor):
            return torch.where(condition, x1, x2)
        return xp.where(condition, x1, x2)

    def take(x: Any, indices: Any, /, *, axis: int | None = None) -> Any:
        if axis is not None and indices.ndim == 1:
            return torch.index_select(x, axis, indices)
        return xp.take(x, indices, axis=axis)

    def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        if device is None and x.dtype != dtype:
            return x.to(dtype)  # a new tensor, as copy=True asks
        return xp.astype(x, dtype, copy=copy, device=device)

    ns.maximum, ns.where, ns.take, ns.astype = maximum, where, take, astype
    return ns


def _numpy_namespace(xp: Any) -> Any:
    """array_api_compat's NumPy namespace with a few hot functions replaced, same semantics:

    - ``maximum(x, scalar)`` and ``where(cond, x, scalar)`` (ReLU, its gradient, the sigmoid's
      floor) run as one compiled pass on arrays big enough to pay for it: ``np.where`` with a
      scalar is ~15x slower than a plain loop (56 us vs 4 us for 128 x 256 float32).  NaN
      propagates through ``maximum`` as in NumPy; ties give the scalar, as in NumPy.
    - ``sum`` and ``max`` of float arrays call their ufunc's ``reduce`` directly (what
      ``np.sum``/``np.max`` end up calling, without ~2 us of argument handling per call).
    Anything else goes to the compat function.
    """
    ns = _namespace_copy(xp)
    ops = ops_for("numpy", xp)
    big = ops.ELEMENTWISE_MIN_SIZE
    ndarray, scalars, add_reduce, max_reduce = np.ndarray, (float, int), np.add.reduce, \
        np.maximum.reduce

    def maximum(x1: Any, x2: Any) -> Any:
        if (type(x1) is ndarray and x1.size >= big and type(x2) in scalars
                and x1.dtype in _FLOATS and x1.flags.c_contiguous and ops.kernels is not None):
            out = np.empty_like(x1)
            ops.kernels.maximum_scalar(x1.reshape(-1), x1.dtype.type(x2), out.reshape(-1))
            return out
        return xp.maximum(x1, x2)

    def where(condition: Any, x1: Any, x2: Any) -> Any:
        if (type(x1) is ndarray and x1.size >= big and type(x2) in scalars
                and x1.dtype in _FLOATS and x1.flags.c_contiguous
                and type(condition) is ndarray and condition.dtype == np.bool_
                and condition.shape == x1.shape and condition.flags.c_contiguous
                and ops.kernels is not None):
            out = np.empty_like(x1)
            ops.kernels.where_scalar(condition.reshape(-1), x1.reshape(-1), x1.dtype.type(x2),
                                     out.reshape(-1))
            return out
        return xp.where(condition, x1, x2)

    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        if dtype is None and type(x) is ndarray and x.dtype in _FLOATS:
            return add_reduce(x, axis=axis, keepdims=keepdims)
        return xp.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
        if type(x) is ndarray and x.dtype in _FLOATS:
            return max_reduce(x, axis=axis, keepdims=keepdims)
        return xp.max(x, axis=axis, keepdims=keepdims)

    ns.maximum, ns.where, ns.sum, ns.max = maximum, where, sum, max
    return ns


# --------------------------------------------------------------------- resolution
def _import(module: str, fix: str, backend: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendUnavailableError(
            f"backend={backend!r} needs {module}, which is not installed; fix: {fix}"
        ) from err


def _split_spec(spec: str) -> tuple[str, str | None]:
    name, _, device = spec.strip().partition(":")
    name = name.lower().replace("-", "_")
    if name in ("np",):
        name = "numpy"
    if name in ("strict", "array_api_strict"):
        name = "array_api_strict"
    return name, (device or None)


def _resolve_name(name: str, device: str | None, spec: str) -> tuple[Any, Any, Any]:
    """(xp, device, module) for a backend name."""
    if name == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"backend={spec!r}: NumPy runs on the CPU only; use backend='numpy'")
        return _numpy_namespace(array_api_compat.array_namespace(np.empty(0))), None, np
    if name == "cupy":
        cupy = _import("cupy", _CUPY_FIX, spec)
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # CUDA driver missing or broken
            raise BackendUnavailableError(
                f"backend={spec!r}: CuPy is installed but no usable NVIDIA GPU was found ({err}); "
                f"run on a machine with a GPU and CUDA driver, or use backend='numpy'"
            ) from err
        index = int(device.replace("cuda", "").lstrip(":") or 0) if device else 0
        if count == 0 or index >= count:
            raise BackendUnavailableError(
                f"backend={spec!r}: {count} CUDA device(s) visible; use backend='numpy' here"
            )
        import array_api_compat.cupy as xp_cupy  # noqa: PLC0415

        return xp_cupy, cupy.cuda.Device(index), cupy
    if name == "torch":
        torch = _import("torch", 'pip install "xpnet[torch]" (CPU: pip install torch)', spec)
        dev = torch.device(device or "cpu")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"backend={spec!r}: this PyTorch build sees no CUDA GPU; "
                f"use backend='torch' (CPU) or install a CUDA build of PyTorch on a GPU machine"
            )
        import array_api_compat.torch as xp_torch  # noqa: PLC0415

        return _torch_namespace(xp_torch, torch), dev, torch
    if name == "array_api_strict":
        strict = _import("array_api_strict", 'pip install "xpnet[test]"', spec)
        dev = strict.Device(device) if device else None
        return strict, dev, strict
    raise ValueError(
        f"backend={spec!r} is not a known backend; use one of {', '.join(BACKEND_NAMES)} "
        f"(optionally with ':device', e.g. 'torch:cuda'), a namespace module, or a Backend"
    )


def get_backend(
    backend: Any = "numpy", dtype: Any = "float32", random_state: int | None = None
) -> Backend:
    """Resolve ``backend=`` once into a :class:`Backend`.

    Args:
        backend: "numpy" (default), "cupy", "torch", "torch:cuda", "array_api_strict",
            "array_api_strict:device1", a namespace module, or a Backend (returned as is
            when dtype matches).
        dtype: "float32" (default) or "float64".
        random_state: seed for initial weights (host) and device draws.

    Raises:
        ValueError: unknown backend name or non-float dtype.
        BackendUnavailableError: the library is not installed or there is no GPU.
    """
    if isinstance(backend, Backend):
        if backend.dtype_name == _dtype_name(dtype) and random_state in (None, backend.seed):
            return backend
        return Backend(backend.name, backend.xp, backend.device, dtype, random_state,
                       backend._module)
    if backend is None:
        backend = "numpy"
    if isinstance(backend, types.ModuleType):
        mod_name = backend.__name__.split(".")[-1]
        if mod_name in BACKEND_NAMES:
            backend = mod_name
        elif hasattr(backend, "__array_api_version__"):
            return Backend(backend.__name__, backend, None, dtype, random_state, backend)
        else:
            raise ValueError(
                f"backend={backend.__name__!r} is a module but not an Array API namespace "
                f"(no __array_api_version__); pass one of {', '.join(BACKEND_NAMES)}"
            )
    if not isinstance(backend, str):
        raise TypeError(
            f"backend={backend!r} must be a string such as 'numpy' or 'torch:cuda', "
            f"a namespace module or a Backend"
        )
    name, device = _split_spec(backend)
    xp, dev, module = _resolve_name(name, device, backend)
    return Backend(name, xp, dev, dtype, random_state, module)


# --------------------------------------------------------------------- backend kernels
class ArrayAPIOps:
    """The few operations where a library's own API beats the standard's, in their plain Array
    API form: every backend gets these (array_api_strict, CuPy and any namespace module).

    ``out=`` names a preallocated array (e.g. a view into a network's flat gradient buffer) to
    write the result into; without it the result is a new array.  ``adam`` returns False: the
    optimizer then runs its own Array API code.
    """

    name = "array-api"

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def describe(self) -> str:
        """Which kernels run (for ``xpnet env`` and benchmark records)."""
        return self.name

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        """a @ b, into ``out`` when given."""
        return _into(a @ b, out)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        """The column sums of a 2-d array (sum over axis 0), into ``out`` when given."""
        return _into(self.xp.sum(a, axis=0), out)

    def adam(self, p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, lr_t: float,
             eps_t: float) -> bool:
        """Adam's in-place update (see ``xpnet.optimizers.Adam``); False: not fused here."""
        return False

    def softmax_cross_entropy(self, z: Any, t: Any) -> tuple[Any, Any] | None:
        """(summed loss as a 0-d array, softmax(z) - onehot(t)) for integer labels ``t`` in
        one pass, or None: not fused here (``xpnet.losses.SoftmaxCrossEntropy`` then runs its
        own Array API code)."""
        return None


def _into(result: Any, out: Any) -> Any:
    if out is None:
        return result
    out[...] = result
    return out


class _NumpyOps(ArrayAPIOps):
    """NumPy: products and sums written straight into ``out`` (no temporary, no copy), and
    Adam as one compiled pass (``xpnet.numba_kernels``, numba) or, without numba, as in-place
    ufuncs on two preallocated scratch buffers.  Single-threaded on purpose: right after the
    matrix products the BLAS threads still hold the other cores (measured: a second thread, or
    SciPy's separately threaded BLAS axpy, made the epoch slower)."""

    #: arrays at least this long use the compiled kernels; below it NumPy is as quick and a
    #: small model never pays numba's start-up (~0.6 s once per process: import, cache load)
    COMPILED_MIN_SIZE = 1 << 16
    ELEMENTWISE_MIN_SIZE = 1 << 13
    LOSS_MIN_SIZE = 1 << 10

    def __init__(self, xp: Any) -> None:
        super().__init__(xp)
        self._kernels: Any = False  # False: not looked for yet; None: unavailable
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def kernels(self) -> Any:
        """``xpnet.numba_kernels`` when numba works here, else None (imported on first use)."""
        if self._kernels is False:
            from . import numba_kernels  # noqa: PLC0415 - numba only when a big buffer needs it

            self._kernels = numba_kernels if numba_kernels.AVAILABLE else None
        return self._kernels

    def describe(self) -> str:
        from . import numba_kernels  # noqa: PLC0415

        if not self.kernels:
            return f"NumPy ufuncs ({numba_kernels.REASON})"
        return (f"compiled with {numba_kernels.REASON}: Adam from {self.COMPILED_MIN_SIZE} "
                f"parameters, maximum/where from {self.ELEMENTWISE_MIN_SIZE} elements, "
                f"softmax cross-entropy from {self.LOSS_MIN_SIZE} logits")

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        return np.matmul(a, b, out=out)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        return np.add.reduce(a, axis=0, out=out)  # np.sum's work without its argument handling

    def adam(self, p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, lr_t: float,
             eps_t: float) -> bool:
        if not all(a.flags.c_contiguous and a.dtype == p.dtype for a in (g, m, v)) \
                or not p.flags.c_contiguous:
            return False
        if p.size >= self.COMPILED_MIN_SIZE and self.kernels is not None:
            s = p.dtype.type  # scalars in the arrays' dtype: float32 math stays float32
            self.kernels.adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                              s(b1), s(1.0 - b1), s(b2), s(1.0 - b2), s(lr_t), s(eps_t))
            return True
        if self._scratch is None or self._scratch[0].shape != p.shape \
                or self._scratch[0].dtype != p.dtype:
            self._scratch = (np.empty_like(p), np.empty_like(p))
        s1, s2 = self._scratch
        np.multiply(m, b1, out=m)               # m = b1 m + (1 - b1) g
        np.multiply(g, 1.0 - b1, out=s1)
        np.add(m, s1, out=m)
        np.multiply(g, g, out=s1)               # v = b2 v + (1 - b2) g^2
        np.multiply(s1, 1.0 - b2, out=s1)
        np.multiply(v, b2, out=v)
        np.add(v, s1, out=v)
        np.sqrt(v, out=s2)                      # p -= lr_t m / (sqrt(v) + eps_t)
        np.add(s2, eps_t, out=s2)
        np.multiply(m, lr_t, out=s1)
        np.divide(s1, s2, out=s2)
        np.subtract(p, s2, out=p)
        return True

    def softmax_cross_entropy(self, z: Any, t: Any) -> tuple[Any, Any] | None:
        # NumPy reduces a (128, 10) array along its short rows in ~7 us per call; the whole
        # loss is a dozen such calls (~70 us per step in training), the loop ~5 us
        if (z.ndim != 2 or z.size < self.LOSS_MIN_SIZE or not z.flags.c_contiguous
                or z.dtype not in _FLOATS or t.ndim != 1 or t.dtype.kind not in "iu"
                or t.shape[0] != z.shape[0] or self.kernels is None):
            return None
        residual = np.empty_like(z)
        total = self.kernels.softmax_cross_entropy(z, t, residual)
        return np.asarray(total, dtype=z.dtype), residual


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _TorchOps(ArrayAPIOps):
    """PyTorch: ``out=`` variants and torch's in-place multi-operand kernels for Adam."""

    name = "torch"

    def __init__(self, xp: Any, torch: Any) -> None:
        super().__init__(xp)
        self.torch = torch

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        return self.torch.matmul(a, b) if out is None else self.torch.matmul(a, b, out=out)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        return self.torch.sum(a, 0) if out is None else self.torch.sum(a, 0, out=out)

    def adam(self, p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, lr_t: float,
             eps_t: float) -> bool:
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        p.addcdiv_(m, v.sqrt().add_(eps_t), value=-lr_t)
        return True


def ops_for(library: str | None, xp: Any, module: Any = None) -> ArrayAPIOps:
    """The kernels for an array library ("numpy", "torch", anything else: plain Array API).
    A new object per call: each model (and optimizer) owns its scratch buffers, so models
    trained in parallel threads never share them."""
    if library == "numpy":
        return _NumpyOps(xp)
    if library == "torch":
        if module is None:
            import torch as module  # noqa: PLC0415 - only reached with torch arrays
        return _TorchOps(xp, module)
    return ArrayAPIOps(xp)


def fused_ops(x: Any) -> ArrayAPIOps | None:
    """The backend kernels for ``x``'s library when it has fused ones (numpy, torch), else
    None (then the optimizers use their plain Array API code).  An opt-in specialization: both
    paths compute the same update, which the tests check."""
    lib = library_of(x)
    if lib in ("numpy", "torch"):
        return ops_for(lib, namespace_of(x))
    return None
