"""Convolution, Pooling and Flatten: chapter 7 of "Deep Learning from Scratch", in the Array API.

The standard has no ``as_strided``, so im2col is written with slicing: for each offset (y, x)
of a FH x FW window, the strided slice ``img[:, :, y::stride, x::stride]`` (cut to the output's
size) holds what that window element sees at every output position; stacking the FH*FW slices
gives every window at once.  col2im is its adjoint: each slice's gradient is added back at the
same offset, so overlapping windows accumulate.  The same code runs on NumPy, CuPy, PyTorch
and array_api_strict; a backend may bring its own convolution (``backend.conv2d``, chosen when
the backend is built, e.g. PyTorch's), with this code as the reference.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from ..backends import Backend, namespace_of
from ..backends.base import _into
from .layers import Dense, Layer

__all__ = ["Convolution", "Conv2D", "Pooling", "Flatten", "im2col", "col2im", "out_size"]

_Declared = tuple[tuple[int, ...], dict[str, tuple[tuple[int, ...], Any]]]


def out_size(size: int, window: int, stride: int = 1, pad: int = 0) -> int:
    """The output length of a window sliding over ``size`` (+ ``pad`` on each side).

    Example:
        >>> out_size(28, 5), out_size(28, 3, stride=2, pad=1)
        (24, 14)
    """
    return (size + 2 * pad - window) // stride + 1


def _offsets(fh: int, fw: int, stride: int, oh: int, ow: int) -> list[tuple[slice, ...]]:
    """For each window element (y, x), row by row: its index at every output position of a
    padded image."""
    return [(slice(None), slice(None), slice(y, y + stride * (oh - 1) + 1, stride),
             slice(x, x + stride * (ow - 1) + 1, stride)) for y in range(fh) for x in range(fw)]


def _padded(xp: Any, x: Any, pad: int, fill: float = 0.0) -> Any:
    """Images ``x`` (N, C, H, W) with ``pad`` rows and columns of ``fill`` on each side
    (built by concatenation from ``x``'s own slices: the batch size may be symbolic, as on
    the ndonnx namespace that ONNX export traces, whose concat forgets the known sizes)."""
    if not pad:
        return x
    _, c, h, w = x.shape
    edge = xp.full_like(x[:, :, :1, :], fill)
    x = xp.concat([edge] * pad + [x] + [edge] * pad, axis=2)
    edge = xp.full_like(x[:, :, :, :1], fill)
    x = xp.concat([edge] * pad + [x] + [edge] * pad, axis=3)
    return xp.reshape(x, (-1, c, h + 2 * pad, w + 2 * pad))


def _windows(xp: Any, x: Any, fh: int, fw: int, stride: int, pad: int, fill: float = 0.0
             ) -> list[Any]:
    """Window element (y, x) at every output position, one (N, C, OH, OW) view each."""
    oh, ow = out_size(x.shape[2], fh, stride, pad), out_size(x.shape[3], fw, stride, pad)
    img = _padded(xp, x, pad, fill)
    return [img[idx] for idx in _offsets(fh, fw, stride, oh, ow)]


def _scatter(xp: Any, grads: Any, shape: tuple[int, ...], fh: int, fw: int, stride: int,
             pad: int) -> Any:
    """The adjoint of :func:`_windows`: the gradients of the window elements, (N, C, OH, OW)
    each, added back where they were read (overlapping windows add up)."""
    n, c, h, w = shape
    img = None
    for idx, g in zip(_offsets(fh, fw, stride, out_size(h, fh, stride, pad),
                               out_size(w, fw, stride, pad)), grads, strict=True):
        if img is None:
            img = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=g.dtype, device=g.device)
        img[idx] += g
    return img[:, :, pad:pad + h, pad:pad + w] if pad else img


def im2col(xp: Any, x: Any, fh: int, fw: int, stride: int = 1, pad: int = 0,
           fill: float = 0.0) -> Any:
    """Every (fh, fw) window of the images ``x`` (N, C, H, W), padded with ``fill``: shape
    (N, C, fh*fw, OH, OW), where ``[:, :, y*fw + x]`` is window element (y, x) at each output
    position.  The book's 2-D matrix is its (N*OH*OW, C*fh*fw) permutation (see Convolution).

    Example:
        >>> import numpy as np
        >>> im2col(np, np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)[0, 0, :, 0, 0]
        array([0., 1., 3., 4.])
    """
    return xp.stack(_windows(xp, x, fh, fw, stride, pad, fill), axis=2)


def col2im(xp: Any, cols: Any, shape: tuple[int, ...], fh: int, fw: int, stride: int = 1,
           pad: int = 0) -> Any:
    """The adjoint of :func:`im2col`: window gradients ``cols`` (N, C, fh*fw, OH, OW) summed
    back into images of ``shape`` (N, C, H, W) (overlapping windows add up).

    Example:
        >>> import numpy as np
        >>> col2im(np, np.ones((1, 1, 4, 2, 2)), (1, 1, 3, 3), 2, 2)[0, 0]
        array([[1., 2., 1.],
               [2., 4., 2.],
               [1., 2., 1.]])
    """
    return _scatter(xp, (cols[:, :, k, ...] for k in range(fh * fw)), shape, fh, fw, stride,
                    pad)


def _image(in_shape: tuple[int, ...], kind: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise ValueError(f"{kind} needs image samples (C, H, W) but gets shape "
                         f"{tuple(in_shape)}; pass input_shape=(C, H, W) to the network")
    return in_shape  # type: ignore[return-value]


def _window(in_shape: tuple[int, ...], kind: str, fh: int, fw: int, stride: int, pad: int
            ) -> tuple[int, int, int, int]:
    """(C, H, W, OH, OW) of a window layer, or the error that names what does not fit."""
    c, h, w = _image(in_shape, kind)
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    if min(fh, fw, stride) < 1 or pad < 0 or oh < 1 or ow < 1:
        raise ValueError(f"{kind}: a {fh}x{fw} window with stride={stride}, pad={pad} does "
                         f"not fit images of shape {tuple(in_shape)}; use a window no larger "
                         f"than the padded image, stride >= 1 and pad >= 0")
    return c, h, w, oh, ow


class Convolution(Dense):
    """The book's Convolution: y[n, f] = sum_c W[f, c] (*) x[n, c] + b[f] (a cross-correlation
    of each of the FN filters (FN, C, FH, FW) with the image), by im2col.

    Forward: col = im2col(x) as a (N*OH*OW, C*FH*FW) matrix, one window per row;
    y = col W_f^T + b with W_f = W.reshape(FN, C*FH*FW), reshaped to (N, FN, OH, OW).
    Backward: that of Dense (its base class) on col, with dout as (N*OH*OW, FN):
    dW_f = dout^T col, db = sum_rows(dout), dcol = dout W_f, and dx = col2im(dcol).

    A backend with its own convolution (``ops.conv2d``, e.g. PyTorch's) runs it instead;
    ``kernel = None`` forces the Array API code.

    Example:
        >>> import numpy as np
        >>> params = {"W": np.ones((2, 1, 3, 3)), "b": np.zeros(2)}
        >>> Convolution(params, pad=1).forward(np.ones((1, 1, 4, 4))).shape
        (1, 2, 4, 4)
    """

    label = "Conv"

    def __init__(self, params: MutableMapping[str, Any], w_key: str = "W", b_key: str = "b",
                 stride: int = 1, pad: int = 0, input_grad: bool = True, xp: Any = None, *,
                 grad_buffers: MutableMapping[str, Any] | None = None,
                 ops: Backend | None = None) -> None:
        super().__init__(params, w_key, b_key, input_grad, xp, grad_buffers=grad_buffers, ops=ops)
        self.stride, self.pad = int(stride), int(pad)
        self.kernel = self.ops.conv2d  # the backend's own convolution, or None
        self.x = self.col = None

    @classmethod
    def declare(cls, in_shape: tuple[int, ...], filter_num: int, filter_size: int,
                stride: int = 1, pad: int = 0) -> _Declared:
        c, _, _, oh, ow = _window(in_shape, "conv", filter_size, filter_size, stride, pad)
        k = filter_size * filter_size
        return (filter_num, oh, ow), {
            "W": ((filter_num, c, filter_size, filter_size), (c * k, filter_num * k)),
            "b": ((filter_num,), "zeros")}

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, filter_num: int,
              filter_size: int, stride: int = 1, pad: int = 0) -> Convolution:
        return cls(net.params, keys["W"], keys["b"], stride, pad, not first, net.xp,
                   **net.wiring)

    def forward(self, x: Any, train: bool = False) -> Any:
        w, b = self.params[self.w_key], self.params[self.b_key]
        self.x = x
        if self.kernel is not None:
            return self.kernel(x, w, b, self.stride, self.pad)
        xp = self.xp
        fn, _, fh, fw = w.shape
        cols = im2col(xp, x, fh, fw, self.stride, self.pad)  # (N, C, FH*FW, OH, OW)
        oh, ow = cols.shape[3], cols.shape[4]  # -1 below: the batch size, maybe symbolic
        self.col = xp.reshape(xp.permute_dims(cols, (0, 3, 4, 1, 2)), (-1, w.shape[1] * fh * fw))
        y = self.col @ xp.reshape(w, (fn, -1)).T
        y += b
        return xp.permute_dims(xp.reshape(y, (-1, oh, ow, fn)), (0, 3, 1, 2))

    def backward(self, dout: Any) -> Any:
        xp, ops, buf = self.xp, self.ops, self.grad_buffers
        w = self.params[self.w_key]
        fn, c, fh, fw = w.shape
        if self.kernel is not None:
            dx, dw, db = ops.conv2d_backward(dout, self.x, w, self.stride, self.pad,
                                             self.input_grad)
            self.grads[self.w_key] = _into(dw, buf.get(self.w_key))
            self.grads[self.b_key] = _into(db, buf.get(self.b_key))
            return dx
        d = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (-1, fn))  # (N*OH*OW, FN)
        out = buf.get(self.w_key)
        dw = ops.matmul(d.T, self.col, out=None if out is None else xp.reshape(out, (fn, -1)))
        self.grads[self.w_key] = xp.reshape(dw, w.shape) if out is None else out
        self.grads[self.b_key] = ops.sum_rows(d, out=buf.get(self.b_key))
        if not self.input_grad:
            return None
        n, _, oh, ow = dout.shape
        dcol = xp.reshape(d @ xp.reshape(w, (fn, -1)), (n, oh, ow, c, fh * fw))
        return col2im(xp, xp.permute_dims(dcol, (0, 3, 4, 1, 2)), self.x.shape, fh, fw,
                      self.stride, self.pad)

Conv2D = Convolution


class Pooling(Layer):
    """Max or average pooling over (pool_h, pool_w) windows, on im2col's window slices.

    Forward: for each window element (y, x), the (N, C, OH, OW) view of what it sees (as in
    im2col, unstacked); "max": y = their element-wise maximum (padding is -inf), "average":
    y = their mean (padding counts as 0, as PyTorch's ``count_include_pad``).  ``stride``
    defaults to the pool size.
    Backward: col2im of dout spread over each window: "max": all of it to the window's first
    maximum; "average": dout / (pool_h*pool_w) to each element.

    Example:
        >>> import numpy as np
        >>> Pooling(2, 2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0]
        array([[ 5.,  7.],
               [13., 15.]])
    """

    label = "Pool"
    MODES = ("max", "average")

    def __init__(self, pool_h: int = 2, pool_w: int | None = None, stride: int | None = None,
                 pad: int = 0, mode: str = "max", xp: Any = None) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode={mode!r} must be one of {self.MODES}")
        self.pool_h = int(pool_h)
        self.pool_w = self.pool_h if pool_w is None else int(pool_w)
        self.stride = max(self.pool_h, self.pool_w) if stride is None else int(stride)
        self.pad, self.mode, self.xp = int(pad), mode, xp
        self.x_shape = self.windows = self.y = None

    @classmethod
    def declare(cls, in_shape: tuple[int, ...], pool_h: int = 2, pool_w: int | None = None,
                stride: int | None = None, pad: int = 0, mode: str = "max") -> _Declared:
        p = cls(pool_h, pool_w, stride, pad, mode)
        c, _, _, oh, ow = _window(in_shape, "pool", p.pool_h, p.pool_w, p.stride, p.pad)
        return (c, oh, ow), {}

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, **args: Any) -> Pooling:
        return cls(**args, xp=net.xp)

    def forward(self, x: Any, train: bool = False) -> Any:
        xp = self.xp = self.xp or namespace_of(x)
        self.x_shape = x.shape
        fill = -float("inf") if self.mode == "max" else 0.0
        self.windows = _windows(xp, x, self.pool_h, self.pool_w, self.stride, self.pad, fill)
        y = self.windows[0]
        for w in self.windows[1:]:
            y = xp.maximum(y, w) if self.mode == "max" else y + w
        self.y = y if self.mode == "max" else y * (1.0 / len(self.windows))
        return self.y

    def backward(self, dout: Any) -> Any:
        xp, k = self.xp, len(self.windows)
        if self.mode == "average":
            grads = [dout * (1.0 / k)] * k
        else:  # the first maximum of each window takes dout (PyTorch's choice among ties)
            grads, free = [], xp.ones_like(self.y, dtype=xp.bool)
            for w in self.windows:
                hit = xp.logical_and(w == self.y, free)
                free = xp.logical_and(free, xp.logical_not(hit))
                grads.append(xp.where(hit, dout, 0.0))
        return _scatter(xp, grads, self.x_shape, self.pool_h, self.pool_w, self.stride,
                        self.pad)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) (the reshape the book's Affine does first), as a layer.
    Backward: dout reshaped back.

    Example:
        >>> import numpy as np
        >>> Flatten().forward(np.zeros((2, 3, 4, 4))).shape
        (2, 48)
    """

    def __init__(self, xp: Any = None) -> None:
        super().__init__()
        self.xp, self.shape = xp, None

    @classmethod
    def declare(cls, in_shape: tuple[int, ...]) -> _Declared:
        size = 1
        for d in in_shape:
            size *= d
        return (size,), {}

    def forward(self, x: Any, train: bool = False) -> Any:
        xp = self.xp = self.xp or namespace_of(x)
        self.shape = x.shape
        return xp.reshape(x, (-1, math.prod(x.shape[1:])))  # -1: the batch, maybe symbolic

    def backward(self, dout: Any) -> Any:
        return self.xp.reshape(dout, self.shape)
