"""Compiled CPU kernels (numba) for the NumPy backend.

A chain of NumPy ufuncs passes over memory once per operation: Adam's update is twelve passes
over the whole parameter buffer.  The loops below make one pass over the same formulas as the
Array API code they stand in for, in IEEE arithmetic (no fast-math; ``error_model="numpy"`` only
drops Python's divide-by-zero check, which is what lets the compiler vectorize).  The tests
check them against that code: Adam, maximum and where bit for bit, the softmax cross-entropy to
rounding (it sums the loss in float64).

numba is optional: without it, or with ``XPNET_NUMBA=0`` in the environment, ``AVAILABLE`` is
False (``REASON`` says why) and the backend falls back to in-place ufuncs.  Kernels compile on
first use (~1.5 s, once) and are cached on disk (``cache=True``); a later process loads them in
~0.6 s, numba's import included.  A KeyboardInterrupt during numba's import leaves nothing
half-imported behind: the next use imports it again (``numpy_backend._loops``).
"""

from __future__ import annotations

import math
import os
import platform
import sys
from typing import Any

__all__ = ["AVAILABLE", "REASON", "adam", "maximum_scalar", "maximum_scalar_in_place",
           "where_scalar", "add_rows", "add_rows_relu", "add_rows_max_finite", "column_sums",
           "relu_grad", "shift_rows", "normalize_rows", "softmax_cross_entropy", "any_nonfinite"]

AVAILABLE = False
REASON = ""
_before = set(sys.modules)
try:
    if os.environ.get("XPNET_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        raise ImportError("disabled by XPNET_NUMBA=0")
    import numba
except Exception as err:  # ImportError, or a numba that fails to load against this NumPy
    REASON = f"numba unavailable: {err}"
except BaseException:  # KeyboardInterrupt mid-import: forget the half-imported numba and
    # llvmlite modules (left behind, they make the next import fail with "module 'numba' has
    # no attribute 'core'"), so that the next use imports them afresh
    for name in set(sys.modules) - _before:
        if name.partition(".")[0] in ("numba", "llvmlite"):
            del sys.modules[name]
    raise
else:
    AVAILABLE = True
    REASON = f"numba {numba.__version__}"


#: the SSE control register's bits that flush subnormal results to zero (FTZ, 0x8000) and
#: read subnormal inputs as zero (DAZ, 0x0040): where x86 does either in microcode, a pass
#: whose values drift through the subnormal range takes twice as long
FTZ_DAZ = 0x8040
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _update_mxcsr(keep: int, add: int) -> int:  # pragma: no cover - compiled version runs
    """Plain Python (without numba): the register cannot be reached; nothing changes."""
    return 0


if AVAILABLE:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _update_mxcsr(typingctx: Any, keep: Any, add: Any) -> Any:  # noqa: F811
        """In a compiled kernel: set the thread's SSE control register (MXCSR) to
        (what it holds & ``keep``) | ``add``, in one step, and return what it held; 0 and no
        change where the CPU is not x86."""
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            if not _X86:
                return context.get_constant(types.uint32, 0)
            i8p = ir.IntType(8).as_pointer()
            access = ir.FunctionType(ir.VoidType(), [i8p])
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.call(cgutils.get_or_insert_function(builder.module, access,
                                                        "llvm.x86.sse.stmxcsr"),
                         [builder.bitcast(slot, i8p)])
            old = builder.load(slot)
            builder.store(builder.or_(builder.and_(old, args[0]), args[1]), slot)
            builder.call(cgutils.get_or_insert_function(builder.module, access,
                                                        "llvm.x86.sse.ldmxcsr"),
                         [builder.bitcast(slot, i8p)])
            return old

        return types.uint32(types.uint32, types.uint32), codegen


def _compiled(fn: Any) -> Any:
    """The kernel compiled by numba (single-threaded, releases the GIL), or as it is."""
    if not AVAILABLE:
        return fn
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
    except RuntimeError:  # no writable cache directory anywhere: compile once per process
        return numba.njit(cache=False, nogil=True, error_model="numpy")(fn)


@_compiled
def adam(p: Any, g: Any, m: Any, v: Any, b1: Any, c1: Any, b2: Any, c2: Any, lr_t: Any,
         eps_t: Any, tiny: Any) -> None:  # pragma: no cover - runs compiled
    """One Adam step in place on 1-d contiguous arrays, element by element:
    m = b1 m + c1 g;  v = b2 v + c2 g^2;  p -= lr_t m / (sqrt(v) + eps_t)
    with c1 = 1 - b1, c2 = 1 - b2 and the scalars in the arrays' dtype.  A moment smaller in
    magnitude than ``tiny`` (the dtype's smallest normal number) is stored as 0: on x86 the
    pass runs with subnormal results and inputs read as 0 (FTZ/DAZ, the thread's register
    restored after it; a negative one becomes -0.0), elsewhere a comparison flushes them: a
    weight whose gradient stays 0 (a border pixel's) would
    otherwise keep a decaying m whose products are subnormal, which takes the pass from
    ~70 to ~140 us (235k float32 values).  The weights do not change by it (such a step
    lr_t m / (sqrt(v) + eps_t) is < 1e-30; sqrt(v) < 1e-19 disappears beside eps_t); NaN
    stays NaN.

    Example:
        >>> import numpy as np
        >>> p, g, m, v = np.ones(2), np.array([1.0, -1.0]), np.zeros(2), np.zeros(2)
        >>> adam(p, g, m, v, 0.9, 0.1, 0.999, 0.001, 0.1, 0.0, 2.2e-308)
        >>> p.round(4).tolist(), m.round(4).tolist()
        ([0.6838, 1.3162], [0.1, -0.1])
    """
    zero = tiny - tiny  # 0 in the arrays' dtype
    # on x86 the pass runs with FTZ/DAZ: the products of a decaying moment (lr_t m, b1 m)
    # cross the subnormal range too; the register is restored after the pass
    mxcsr = _update_mxcsr(0xFFFFFFFF, FTZ_DAZ)
    for i in range(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * (gi * gi)
        if not _X86:  # FTZ already stored subnormal results as 0 (a constant: compiled away;
            # the two comparisons cost ~15% of the pass)
            mi = zero if (mi < tiny and mi > -tiny) else mi
            vi = zero if vi < tiny else vi
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (math.sqrt(vi) + eps_t)
    _update_mxcsr(0, mxcsr)


@_compiled
def maximum_scalar(x: Any, s: Any, out: Any) -> None:  # pragma: no cover - runs compiled
    """out = maximum(x, s) on 1-d contiguous arrays, NaN propagating like ``np.maximum``.

    Example:
        >>> import numpy as np
        >>> out = np.empty(3)
        >>> maximum_scalar(np.array([-1.0, 2.0, np.nan]), 0.0, out); out.tolist()
        [0.0, 2.0, nan]
    """
    for i in range(x.shape[0]):
        xi = x[i]
        # one comparison: NaN is not <= s, so it passes through; ties give s, as
        # maximum(-0.0, 0.0) is 0.0 (~30% quicker than "xi > s or xi != xi")
        out[i] = s if xi <= s else xi


@_compiled
def maximum_scalar_in_place(x: Any, s: Any) -> None:  # pragma: no cover - runs compiled
    """x = maximum(x, s) in place on a 1-d contiguous array, as :func:`maximum_scalar`.  Its
    own kernel because one array as both input and output defeats the vectorizer's overlap
    check in ``maximum_scalar(x, s, x)``, which then runs element by element: 0.8 ms instead
    of 0.17 ms for 10,000 x 256 float32.

    Example:
        >>> import numpy as np
        >>> x = np.array([-1.0, 2.0, np.nan])
        >>> maximum_scalar_in_place(x, 0.0); x.tolist()
        [0.0, 2.0, nan]
    """
    for i in range(x.shape[0]):
        xi = x[i]
        x[i] = s if xi <= s else xi


@_compiled
def where_scalar(cond: Any, x: Any, s: Any, out: Any) -> None:  # pragma: no cover - compiled
    """out = where(cond, x, s) on 1-d contiguous arrays (``cond`` boolean).

    Example:
        >>> import numpy as np
        >>> out = np.empty(2)
        >>> where_scalar(np.array([True, False]), np.array([5.0, 6.0]), 0.0, out); out.tolist()
        [5.0, 0.0]
    """
    for i in range(x.shape[0]):
        out[i] = x[i] if cond[i] else s


@_compiled
def add_rows(z: Any, b: Any) -> None:  # pragma: no cover - runs compiled
    """z += b in place, for a 2-d C-contiguous ``z`` and 1-d ``b`` (a bias added to every
    row): one pass, where NumPy's broadcasting add takes ~5 us for 128 x 256 float32.

    Example:
        >>> import numpy as np
        >>> z = np.zeros((2, 2))
        >>> add_rows(z, np.array([1.0, 2.0])); z.tolist()
        [[1.0, 2.0], [1.0, 2.0]]
    """
    n, d = z.shape
    for i in range(n):
        for j in range(d):
            z[i, j] += b[j]


@_compiled
def add_rows_relu(z: Any, b: Any) -> None:  # pragma: no cover - runs compiled
    """z = maximum(z + b, 0) in place, for a 2-d C-contiguous ``z`` and 1-d ``b``: a bias add
    and a ReLU in one pass over a fresh product (0.87 instead of 1.30 ms for the two hidden
    layers of predict_proba on 10,000 rows); NaN stays NaN, ties give 0 (as np.maximum).

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0, -3.0]])
        >>> add_rows_relu(z, np.array([1.0, 1.0])); z.tolist()
        [[2.0, 0.0]]
    """
    n, d = z.shape
    for i in range(n):
        for j in range(d):
            v = z[i, j] + b[j]
            z[i, j] = 0.0 if v <= 0.0 else v


@_compiled
def add_rows_max_finite(z: Any, b: Any, low: Any) -> bool:  # pragma: no cover - runs compiled
    """z = maximum(z + b, low) in place (``low`` 0 for a ReLU, -inf for none), for a 2-d
    C-contiguous ``z`` and 1-d ``b``; True when every z + b is finite.  The first step of a
    forward on features not yet checked for NaN/inf (``Network.forward_unchecked``): the
    check rides on this pass over the product instead of a read of the features (0.1 ms more
    than :func:`add_rows_relu` for 10,000 x 256 float32; the read of the 10,000 x 784 features
    it replaces takes 0.8-2.4 ms).  Training keeps :func:`add_rows_relu` (no test: ~1 us less
    per 128 x 256 batch).

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0, -3.0]])
        >>> add_rows_max_finite(z, np.array([1.0, 1.0]), 0.0), z.tolist()
        (True, [[2.0, 0.0]])
        >>> add_rows_max_finite(np.array([[np.inf]]), np.zeros(1), -np.inf)
        False
    """
    n, d = z.shape
    finite = True
    for i in range(n):
        for j in range(d):
            v = z[i, j] + b[j]
            e = v - v  # 0 for a finite v, NaN for NaN and +-inf: no literal, no float64
            finite &= e == e
            z[i, j] = low if v <= low else v
    return finite


@_compiled
def column_sums(a: Any, out: Any) -> None:  # pragma: no cover - runs compiled
    """out = a.sum(axis=0) for a 2-d C-contiguous ``a``, adding the rows in order (what NumPy's
    reduction over axis 0 does, so the results are the same).

    Example:
        >>> import numpy as np
        >>> out = np.empty(2)
        >>> column_sums(np.array([[1.0, 2.0], [3.0, 4.0]]), out); out.tolist()
        [4.0, 6.0]
    """
    n, d = a.shape
    for j in range(d):
        out[j] = a[0, j]
    for i in range(1, n):
        for j in range(d):
            out[j] += a[i, j]


@_compiled
def relu_grad(y: Any, dout: Any, out: Any) -> None:  # pragma: no cover - runs compiled
    """out = where(y > 0, dout, 0) on 1-d contiguous arrays: ReLU's backward from its output
    ``y``, one pass without the boolean temporary ``y > 0``.

    Example:
        >>> import numpy as np
        >>> out = np.empty(2)
        >>> relu_grad(np.array([0.0, 3.0]), np.array([7.0, 7.0]), out); out.tolist()
        [0.0, 7.0]
    """
    for i in range(y.shape[0]):
        out[i] = dout[i] if y[i] > 0 else 0


@_compiled
def _softmax_row(z: Any, i: int, out: Any) -> tuple[Any, float]:  # pragma: no cover
    """out[i] = softmax(z[i]) = exp(z[i] - top) / s; returns (top, s): the row's maximum
    (NaN if the row has one) and the sum of the shifted exponentials."""
    c = z.shape[1]
    top = z[i, 0]
    for j in range(1, c):
        if z[i, j] > top or z[i, j] != z[i, j]:
            top = z[i, j]
    s = math.exp(z[i, 0] - top)
    out[i, 0] = s
    for j in range(1, c):
        e = math.exp(z[i, j] - top)
        out[i, j] = e
        s += e
    for j in range(c):
        out[i, j] /= s
    return top, s


@_compiled
def shift_rows(z: Any, out: Any) -> None:  # pragma: no cover - runs compiled
    """out = z - max(z, axis=1) row by row for 2-d logits (a row with a NaN has a NaN
    maximum): the first third of the row-wise softmax, whose exponentials NumPy's vectorized
    ``exp`` then takes (a scalar exp per element here was ~2/3 of the softmax's time).

    Example:
        >>> import numpy as np
        >>> out = np.empty((1, 3))
        >>> shift_rows(np.array([[1.0, 3.0, 2.0]]), out); out.tolist()
        [[-2.0, 0.0, -1.0]]
    """
    n, c = z.shape
    for i in range(n):
        top = z[i, 0]
        for j in range(1, c):
            if z[i, j] > top or z[i, j] != z[i, j]:
                top = z[i, j]
        for j in range(c):
            out[i, j] = z[i, j] - top


@_compiled
def normalize_rows(e: Any) -> None:  # pragma: no cover - runs compiled
    """e /= sum(e, axis=1) in place, row by row (the softmax's last third).

    Example:
        >>> import numpy as np
        >>> e = np.array([[1.0, 3.0]])
        >>> normalize_rows(e); e.tolist()
        [[0.25, 0.75]]
    """
    n, c = e.shape
    for i in range(n):
        s = e[i, 0]
        for j in range(1, c):
            s += e[i, j]
        for j in range(c):
            e[i, j] /= s


@_compiled
def softmax_cross_entropy(z: Any, t: Any, residual: Any) -> float:  # pragma: no cover
    """Softmax cross-entropy of 2-d logits ``z`` against integer labels ``t``, row by row:
    p = exp(z - max) / sum(exp(z - max)), residual = p - onehot(t); returns the SUM over rows
    of -log p[t] (accumulated in float64).  A label outside [0, C) matches no class, as in
    the Array API code (it adds nothing to the loss and its row's residual is p).

    Example:
        >>> import numpy as np
        >>> residual = np.empty((1, 2))
        >>> round(softmax_cross_entropy(np.zeros((1, 2)), np.array([1]), residual), 4)
        0.6931
        >>> residual.tolist()
        [[0.5, -0.5]]
    """
    n, c = z.shape
    total = 0.0
    for i in range(n):
        top, s = _softmax_row(z, i, residual)
        label = t[i]
        if 0 <= label < c:
            total -= float(z[i, label] - top - math.log(s))
            residual[i, label] -= 1.0
    return total


@_compiled
def any_nonfinite(bits: Any, exponent: Any) -> bool:  # pragma: no cover - runs compiled
    """True when some float whose bit pattern is in ``bits`` (a 1-d unsigned integer view
    of the floats) is NaN or infinite, i.e. has every bit of ``exponent`` (the format's
    exponent field: 0x7F800000 for float32) set.  One vectorized read, no temporary and no
    rounding: NumPy's ``isfinite(sum(x))`` reads as much, but adds, and can overflow.

    Example:
        >>> import numpy as np
        >>> x = np.array([1.0, -np.inf, 3.0], dtype=np.float32)
        >>> bool(any_nonfinite(x.view(np.uint32), np.uint32(0x7F800000)))
        True
        >>> bool(any_nonfinite(x[::2].copy().view(np.uint32), np.uint32(0x7F800000)))
        False
    """
    found = False
    for i in range(bits.shape[0]):
        found |= (bits[i] & exponent) == exponent
    return found
