"""NumPy: the default backend, with its compiled kernels (``numba_kernels``), a convolution by
strided views and BLAS, and a namespace whose few hot functions skip the compat layer's argument
handling.

Single-threaded on purpose: right after the matrix products the BLAS threads still hold the
other cores (measured: a second thread, or SciPy's separately threaded BLAS axpy, made the epoch
slower).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import threading
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Backend, namespace_copy

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
#: each float dtype's smallest normal number, in that dtype (Adam's flush-to-zero bound)
_TINY = {dt: np.finfo(dt).tiny for dt in _FLOATS}


_kernels: Any = None  # numba_kernels once imported: its start-up is paid, every size uses it


def _loops() -> Any:
    """``xpnet.backends.numba_kernels``, imported on first use: a small model never pays numba's
    start-up (~0.4 s once per process: import and cache load).  Its loops are compiled where
    numba works (``AVAILABLE``), plain Python otherwise.  An import cut short (Ctrl-C) is not
    kept: the next call imports again, from a clean slate (see ``numba_kernels``)."""
    global _kernels
    if _kernels is None:
        from . import numba_kernels  # noqa: PLC0415

        _kernels = numba_kernels
    return _kernels


@functools.cache
def _numba_wanted() -> bool:
    """numba is installed and not turned off by ``XPNET_NUMBA=0`` (checked without importing it,
    so building a backend stays quick)."""
    off = os.environ.get("XPNET_NUMBA", "1").strip().lower() in ("0", "false", "no", "off")
    return not off and importlib.util.find_spec("numba") is not None


def _compiled(x: Any, min_size: int, loaded_min_size: int = 0) -> Any:
    """The compiled loops for a contiguous float array ``x``, else None: from ``min_size``
    elements (where they pay for numba's start-up), or from ``loaded_min_size`` once that is
    paid (where a call into the loops beats NumPy's: at every size for the kernels that
    replace several NumPy calls)."""
    least = min_size if _kernels is None else loaded_min_size
    if type(x) is np.ndarray and x.size >= least and x.dtype in _FLOATS \
            and x.flags.c_contiguous and _loops().AVAILABLE:
        return _kernels
    return None


#: each float dtype's bits as unsigned integers, and its exponent field: NaN and inf, and
#: only they, have all of its bits set
_EXPONENT = {np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000)),
             np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000))}


def all_finite(x: np.ndarray) -> bool:
    """True when no element of the host array ``x`` is NaN or infinite.

    One read of the data: once numba is loaded (never loaded for this alone), a compiled
    test of the exponent bits (~0.8 ms for 10,000 x 784 float32, against ~1.3 ms for NumPy's
    sum); otherwise NumPy's sum, whose finite result proves every value finite, with an
    element-wise look only when the sum is not (it may have overflowed).

    Example:
        >>> import numpy as np
        >>> all_finite(np.ones((3, 2), np.float32)), all_finite(np.array([1.0, np.nan]))
        (True, False)
    """
    if x.dtype.kind in "biu":
        return True
    loops = _compiled(x, math.inf, 1 << 16)
    if loops is not None:
        view, exponent = _EXPONENT[x.dtype]
        return not loops.any_nonfinite(x.reshape(-1).view(view), exponent)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(x, axis=None)):
            return True
    return bool(np.isfinite(x).all())


class NumpyBackend(Backend):
    """NumPy on the CPU: products and sums written straight into ``out`` (no temporary, no
    copy), Adam as one compiled pass (numba) or in-place ufuncs, the softmax cross-entropy as
    one compiled pass, and compiled ``maximum``/``where`` with a scalar in its namespace.

    Example:
        >>> b = NumpyBackend(dtype="float64", random_state=0)
        >>> b.spec, b.zeros(2).dtype.name, b.adam is not None
        ('numpy', 'float64', True)
    """

    name = "numpy"
    #: arrays at least this long load and use the compiled kernels (Adam; the row kernels);
    #: once numba is loaded these take every size, while ``maximum``/``where`` with a scalar
    #: keep ELEMENTWISE_MIN_SIZE: below it NumPy's own call is quicker than a call into numba
    COMPILED_MIN_SIZE = 1 << 16
    ELEMENTWISE_MIN_SIZE = 1 << 13
    #: logits below this size take NumPy's ufuncs (until numba is loaded): a toy model never
    #: pays numba's start-up (~0.4 s once per process: import and cache load)
    LOSS_MIN_SIZE = 1 << 10
    #: a training run of at least this many steps loads the compiled kernels for any model
    #: size (:meth:`expect_steps`): at ~60 us saved per step of a 64-100-100-10 network at
    #: batch 32 (150 -> 90 us), about where they pay for numba's start-up
    COMPILE_AFTER_STEPS = 5000

    def _open(self, xp: Any, device: Any) -> tuple[Any, Any]:
        if device not in (None, "cpu"):
            raise ValueError(f"backend={self._asked(device)!r}: NumPy runs on the CPU only; "
                             f"use backend='numpy'")
        self._local = threading.local()  # Adam's scratch buffers, one pair per thread
        self._adam_flat: tuple[Any, ...] = ()  # the last buffers the compiled Adam took
        if not _numba_wanted():
            self.softmax_cross_entropy = self.softmax = None  # the Array API reference runs
        return xp or _namespace(), None

    @property
    def kernels(self) -> str:  # type: ignore[override]
        loops = _loops()
        if not loops.AVAILABLE:
            return f"NumPy ufuncs ({loops.REASON})"
        return (f"compiled with {loops.REASON}: Adam from {self.COMPILED_MIN_SIZE} "
                f"parameters, maximum/where from {self.ELEMENTWISE_MIN_SIZE} elements, "
                f"softmax cross-entropy from {self.LOSS_MIN_SIZE} logits")

    def compute_key(self) -> str:
        return "numpy"

    def host_floats(self, scalars: list[Any], arrays: list[Any] = ()) -> list[float]:
        """On the host already: each value rounded to the dtype, without stacking them into
        a device array first (~3 us a value through the Array API)."""
        to = np.dtype(self.dtype).type
        out = [float(to(v)) for v in scalars]
        for a in arrays:
            out += np.asarray(a, dtype=to).tolist()
        return out

    def all_finite(self, x: Any) -> bool:
        """The exponent-bit test of the module's :func:`all_finite` (one read)."""
        return all_finite(np.asarray(x))

    def expect_steps(self, steps: int) -> None:
        """A run of ``steps`` training steps begins: from ``COMPILE_AFTER_STEPS`` the compiled
        kernels are loaded now, and every array size uses them."""
        if steps >= self.COMPILE_AFTER_STEPS and _numba_wanted():
            _loops()

    def _from_host(self, arr: np.ndarray) -> Any:
        return arr

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        return np.matmul(a, b, out=out)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        """Column sums in one compiled pass over the rows (NumPy's reduction over axis 0
        takes ~6 us for 128 x 256 float32, the loop ~2 us; the same additions in the same
        order), else NumPy's reduce."""
        loops = _compiled(a, self.ELEMENTWISE_MIN_SIZE)
        if loops is not None and a.ndim == 2 and (out is None or (
                type(out) is np.ndarray and out.shape == (a.shape[1],)
                and out.dtype == a.dtype and out.flags.c_contiguous)):
            out = np.empty(a.shape[1], dtype=a.dtype) if out is None else out
            loops.column_sums(a, out)
            return out
        return np.add.reduce(a, axis=0, out=out)  # np.sum's work without its argument handling

    def add_rows(self, z: Any, b: Any) -> Any:
        """z += b in one compiled pass (NumPy's broadcasting add: ~5 us for 128 x 256)."""
        loops = self._row_loops(z, b)
        if loops is not None:
            loops.add_rows(z, b)
        else:
            z += b
        return z

    def affine_relu(self, x: Any, w: Any, b: Any) -> Any:
        """max(x @ w + b, 0): the product, then the bias and the ReLU in one compiled pass
        over it (two passes in the reference)."""
        z = x @ w
        loops = self._row_loops(z, b)
        if loops is not None:
            loops.add_rows_relu(z, b)
            return z
        return self.relu_owned(self.add_rows(z, b))

    def affine_checked(self, x: Any, w: Any, b: Any, relu: bool) -> tuple[Any, bool]:
        """The product, then the bias, the finite test and the ReLU (when ``relu``) in one
        compiled pass over it (three in the reference); no warning about inf * 0 or overflow
        in the product (the returned flag is the answer to them)."""
        with np.errstate(over="ignore", invalid="ignore"):
            z = x @ w
            loops = self._row_loops(z, b)
            if loops is None:
                return self._checked(self.add_rows(z, b), relu)
        return z, loops.add_rows_max_finite(z, b, z.dtype.type(0.0 if relu else -math.inf))

    def _row_loops(self, z: Any, b: Any) -> Any:
        """The compiled kernels for a bias ``b`` added to every row of a fresh product ``z``
        (same dtype, one value per column), or None where they do not apply."""
        loops = _compiled(z, self.ELEMENTWISE_MIN_SIZE)
        if loops is not None and z.ndim == 2 and type(b) is np.ndarray \
                and b.shape == (z.shape[1],) and b.dtype == z.dtype:
            return loops
        return None

    def relu_owned(self, x: Any) -> Any:
        """max(x, 0) written over ``x`` itself: no new array (for a 10,000 x 256 activation,
        10 MB less to allocate and fault in per forward)."""
        if type(x) is not np.ndarray or x.dtype not in _FLOATS:
            return np.maximum(x, 0.0)
        loops = _compiled(x, self.ELEMENTWISE_MIN_SIZE, self.ELEMENTWISE_MIN_SIZE)
        if loops is None:
            return np.maximum(x, x.dtype.type(0), out=x)
        loops.maximum_scalar_in_place(x.reshape(-1), x.dtype.type(0))
        return x

    def relu_grad(self, y: Any, dout: Any) -> Any:
        """where(y > 0, dout, 0) in one compiled pass, without the boolean temporary."""
        loops = _compiled(y, self.ELEMENTWISE_MIN_SIZE)
        if loops is not None and type(dout) is np.ndarray and dout.shape == y.shape \
                and dout.dtype == y.dtype and dout.flags.c_contiguous:
            out = np.empty_like(y)
            loops.relu_grad(y.reshape(-1), dout.reshape(-1), out.reshape(-1))
            return out
        return np.where(y > 0.0, dout, y.dtype.type(0))

    def adam(self, p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, lr_t: float,
             eps_t: float) -> None:
        """Adam's step in place (``xpnet.nn.optimizers.Adam`` is the formula): one compiled
        pass over a big contiguous buffer, else in-place ufuncs on two scratch buffers (any
        layout or dtype mix, the same operations in the same order).  Moments below the
        dtype's smallest normal number are stored as 0 (see ``numba_kernels.adam``: subnormal
        arithmetic doubles the pass's time; the weights do not change by it)."""
        last = self._adam_flat
        if last and last[0] is p and last[1] is g and last[2] is m and last[3] is v:
            # training's flat buffers again: checked when they first came
            s = p.dtype.type  # scalars in the arrays' dtype: float32 math stays float32
            _loops().adam(p, g, m, v, s(b1), s(1.0 - b1), s(b2), s(1.0 - b2), s(lr_t),
                          s(eps_t), _TINY[p.dtype])
            return
        loops = _compiled(p, self.COMPILED_MIN_SIZE)
        if loops is not None and all(type(a) is np.ndarray and a.flags.c_contiguous
                                     and a.dtype == p.dtype and a.shape == p.shape
                                     for a in (g, m, v)):
            if p.ndim == 1:  # checked once: the same four buffers come back every step
                self._adam_flat = (p, g, m, v)
            s = p.dtype.type
            loops.adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                       s(b1), s(1.0 - b1), s(b2), s(1.0 - b2), s(lr_t), s(eps_t),
                       _TINY[p.dtype])
            return
        scratch = getattr(self._local, "scratch", None)
        if scratch is None or scratch[0].shape != p.shape or scratch[0].dtype != p.dtype:
            scratch = self._local.scratch = (np.empty_like(p), np.empty_like(p))
        s1, s2 = scratch
        tiny = np.finfo(m.dtype).tiny
        np.multiply(m, b1, out=m)               # m = b1 m + (1 - b1) g
        np.multiply(g, 1.0 - b1, out=s1)
        np.add(m, s1, out=m)
        np.abs(m, out=s1)                       # below the smallest normal: 0 (the kernel's
        m[s1 < tiny] = 0.0                      # flush; NaN stays NaN)
        np.multiply(g, g, out=s1)               # v = b2 v + (1 - b2) g^2
        np.multiply(s1, 1.0 - b2, out=s1)
        np.multiply(v, b2, out=v)
        np.add(v, s1, out=v)
        v[v < tiny] = 0.0
        np.sqrt(v, out=s2)                      # p -= lr_t m / (sqrt(v) + eps_t)
        np.add(s2, eps_t, out=s2)
        np.multiply(m, lr_t, out=s1)
        np.divide(s1, s2, out=s2)
        np.subtract(p, s2, out=p)

    def softmax_cross_entropy(self, z: Any, t: Any) -> tuple[Any, Any]:  # type: ignore[override]
        """(summed loss as a 0-d array, softmax(z) - onehot(t)) for 2-d logits and integer
        labels, in one compiled pass (``xpnet.nn.losses.SoftmaxCrossEntropy`` is the formula).
        NumPy reduces a (128, 10) array along its short rows in ~7 us per call; the whole loss
        is a dozen such calls (~70 us per step in training), the loop ~5 us."""
        if z.ndim != 2 or t.shape != (z.shape[0],) or t.dtype.kind not in "iu":
            raise ValueError(f"softmax_cross_entropy takes (N, C) logits and (N,) integer "
                             f"labels, not {z.shape} {z.dtype} and {t.shape} {t.dtype}")
        loops = _compiled(z, self.LOSS_MIN_SIZE)
        if loops is None:
            shifted = z - np.maximum.reduce(z, axis=1, keepdims=True)
            e = np.exp(shifted)
            s = np.add.reduce(e, axis=1, keepdims=True)
            residual = e / s
            rows = np.flatnonzero((t >= 0) & (t < z.shape[1]))  # other labels match no class
            residual[rows, t[rows]] -= 1.0
            return -np.add.reduce(shifted[rows, t[rows]] - np.log(s[rows, 0])), residual
        residual = np.empty_like(z)
        total = loops.softmax_cross_entropy(z, t, residual)
        return np.asarray(total, dtype=z.dtype), residual

    def softmax(self, z: Any) -> Any:  # type: ignore[override]
        """Row-wise softmax of 2-d float logits (``xpnet.nn.losses.softmax`` is the formula),
        from ``LOSS_MIN_SIZE`` logits the row maxima and sums in compiled loops around NumPy's
        ``exp``: NumPy's reductions along short rows take ~1 ms for 10,000 x 10 float32, this
        ~0.17 ms (a scalar exp in the loop: ~0.4 ms)."""
        loops = _compiled(z, self.LOSS_MIN_SIZE) if z.ndim == 2 else None
        if loops is None:
            e = np.exp(z - np.maximum.reduce(z, axis=-1, keepdims=True))
            return e / np.add.reduce(e, axis=-1, keepdims=True)
        out = np.empty_like(z)
        loops.shift_rows(z, out)
        np.exp(out, out=out)  # NumPy's vectorized exp: ~50 us for 10,000 x 10 float32
        loops.normalize_rows(out)
        return out

    def conv2d(self, x: Any, w: Any, b: Any, stride: int, pad: int) -> Any:
        """``xpnet.nn.conv.Convolution``'s forward (im2col there is the reference): im2col as
        a strided view copied once into (N, C*FH*FW, OH*OW), then one batched BLAS product
        W_f @ cols per image, which lands in (N, FN, OH, OW) order without a transpose.

        Example:
            >>> b = NumpyBackend(dtype="float64")
            >>> b.conv2d(np.ones((1, 1, 3, 3)), np.ones((2, 1, 2, 2)), np.zeros(2), 1, 0)[0, 1]
            array([[4., 4.],
                   [4., 4.]])
        """
        fn, _, fh, fw = w.shape
        cols, oh, ow = _cols(x, fh, fw, stride, pad)
        y = np.matmul(w.reshape(fn, -1), cols)
        y += b[:, None]
        return y.reshape(x.shape[0], fn, oh, ow)

    def conv2d_backward(self, dout: Any, x: Any, w: Any, stride: int, pad: int,
                        input_grad: bool = True) -> tuple[Any, Any, Any]:
        """(dx, or None without ``input_grad``; dW; db) of :meth:`conv2d`
        (``Convolution.backward`` is the reference): dW = sum_n dout_n cols_n^T as one batched
        product, and dx by col2im: the FH*FW slices of W_f^T dout added back at their offsets.

        Example:
            >>> b = NumpyBackend(dtype="float64")
            >>> dx, dw, db = b.conv2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)),
            ...                                np.ones((1, 1, 2, 2)), 1, 0)
            >>> dx[0, 0, 1], dw.shape, db
            (array([2., 4., 2.]), (1, 1, 2, 2), array([4.]))
        """
        fn, c, fh, fw = w.shape
        n, _, oh, ow = dout.shape
        d = dout.reshape(n, fn, oh * ow)
        cols = _cols(x, fh, fw, stride, pad)[0]
        dw = np.add.reduce(np.matmul(d, cols.transpose(0, 2, 1)), axis=0).reshape(w.shape)
        db = np.add.reduce(d, axis=(0, 2))
        if not input_grad:
            return None, dw, db
        dcols = np.matmul(w.reshape(fn, -1).T, d).reshape(n, c, fh, fw, oh, ow)
        h, wd = x.shape[2], x.shape[3]
        img = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=dcols.dtype)
        for i in range(fh):
            for j in range(fw):
                img[:, :, i:i + stride * (oh - 1) + 1:stride,
                    j:j + stride * (ow - 1) + 1:stride] += dcols[:, :, i, j]
        return (np.ascontiguousarray(img[:, :, pad:pad + h, pad:pad + wd]) if pad else img,
                dw, db)


def _cols(x: np.ndarray, fh: int, fw: int, stride: int, pad: int
          ) -> tuple[np.ndarray, int, int]:
    """(im2col of images ``x`` as (N, C*FH*FW, OH*OW), OH, OW): every window by a strided view
    (no copy), copied once by the reshape into the layout the products want."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, (fh, fw), axis=(2, 3))[:, :, ::stride, ::stride]
    n, c, oh, ow = win.shape[:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * fh * fw, oh * ow), oh, ow



@functools.cache
def _namespace() -> Any:
    """array_api_compat's NumPy namespace with a few hot functions replaced, same semantics:

    - ``maximum(x, scalar)`` and ``where(cond, x, scalar)`` (ReLU, its gradient, the sigmoid's
      floor) run as one compiled pass on arrays big enough to pay for it: ``np.where`` with a
      scalar is ~15x slower than a plain loop (56 us vs 4 us for 128 x 256 float32).  NaN
      propagates through ``maximum`` as in NumPy; ties give the scalar, as in NumPy.
    - ``sum``, ``max`` and ``mean`` of float arrays call their ufunc's ``reduce`` directly
      (what ``np.sum``/``np.max``/``np.mean`` end up calling, without 2-4 us of argument
      handling per call); ``astype`` on the CPU is the method call the compat one makes.
    Anything else goes to the compat function.  Stateless: one per process.
    """
    xp = compat_numpy
    ns = namespace_copy(xp)
    big = NumpyBackend.ELEMENTWISE_MIN_SIZE
    ndarray, scalars, add_reduce, max_reduce = np.ndarray, (float, int), np.add.reduce, \
        np.maximum.reduce

    def maximum(x1: Any, x2: Any) -> Any:
        loops = _compiled(x1, big, big) if type(x2) in scalars else None
        if loops is not None:
            out = np.empty_like(x1)
            loops.maximum_scalar(x1.reshape(-1), x1.dtype.type(x2), out.reshape(-1))
            return out
        return xp.maximum(x1, x2)

    def where(condition: Any, x1: Any, x2: Any) -> Any:
        loops = _compiled(x1, big, big) if type(x2) in scalars else None
        if (loops is not None and type(condition) is ndarray and condition.dtype == np.bool_
                and condition.shape == x1.shape and condition.flags.c_contiguous):
            out = np.empty_like(x1)
            loops.where_scalar(condition.reshape(-1), x1.reshape(-1), x1.dtype.type(x2),
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

    def mean(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        if type(x) is ndarray and x.dtype in _FLOATS and x.size:
            total = add_reduce(x, axis=axis, keepdims=keepdims)
            return total / (x.size // (total.size or 1))  # np.mean's division, in x's dtype
        return xp.mean(x, axis=axis, keepdims=keepdims)

    def astype(x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        if device in (None, "cpu"):  # the compat function's device check, without its call
            return x.astype(dtype, copy=copy)
        return xp.astype(x, dtype, copy=copy, device=device)

    ns.maximum, ns.where, ns.sum, ns.max, ns.mean = maximum, where, sum, max, mean
    ns.astype = astype
    return ns
