"""PyTorch (CPU or CUDA): torch's generator draws on the device, ``out=`` variants of the
products, Adam in torch's fused kernel (or its in-place multi-operand kernels), ReLU's gradient
in one kernel, softmax in place, torch's own convolution, and a namespace whose few hot
functions call torch directly."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from .base import Backend, BackendUnavailableError, MemoryProbe, import_library, namespace_copy


class TorchBackend(Backend):
    """PyTorch tensors on ``device`` ("cpu", "cuda", "cuda:1" or a ``torch.device``).

    Example:
        >>> b = TorchBackend("cpu", random_state=0)  # doctest: +SKIP
        >>> b.spec, b.permutation(3).device.type  # doctest: +SKIP
        ('torch', 'cpu')
    """

    name = "torch"
    kernels = "torch"
    #: Adam's flat buffers from this many elements take torch's fused Adam kernel (one pass;
    #: below it the in-place chain is as quick and keeps the kernel's set-up out)
    FUSED_ADAM_MIN_SIZE = 1 << 12

    def _open(self, xp: Any, device: Any) -> tuple[Any, Any]:
        torch = self._module = import_library(
            "torch", "pip install torch==2.13.0 (the CPU build; a CUDA build on a GPU machine)",
            self._asked(device))
        dev = torch.device(device or "cpu")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"backend={self._asked(device)!r}: this PyTorch build sees no CUDA GPU; "
                f"use backend='torch' (CPU) or install a CUDA build of PyTorch on a GPU machine"
            )
        # what torch.optim.Adam(fused=True) runs (torch >= 2.0; None: the in-place chain)
        self._fused_adam = getattr(torch, "_fused_adam_", None)
        self._inf_steps: dict[Any, Any] = {}  # the fused Adam's step count (+inf) per device
        if xp is None:
            import array_api_compat.torch as compat_torch  # noqa: PLC0415 - torch is here

            xp = _namespace(compat_torch, torch)
        return xp, dev

    @property
    def device_name(self) -> str:
        return str(self.device)

    @property
    def is_gpu(self) -> bool:
        return self.device.type == "cuda"

    def device_label(self) -> str:
        """"cpu" or "cuda:<index>" (a bare "cuda" names the current GPU)."""
        if self.is_gpu and self.device.index is None:
            return f"cuda:{self._module.cuda.current_device()}"
        return str(self.device)

    def threads(self) -> int | None:
        """torch's intra-op CPU threads; None on a GPU."""
        return None if self.is_gpu else int(self._module.get_num_threads())

    def memory_probe(self) -> MemoryProbe:
        """On CUDA the growth of ``torch.cuda.max_memory_allocated`` (its peak is reset when
        the probe opens); on the CPU the process's peak resident memory."""
        if not self.is_gpu:
            return super().memory_probe()
        self._module.cuda.reset_peak_memory_stats(self.device)
        return MemoryProbe("torch.cuda.max_memory_allocated",
                           partial(self._module.cuda.max_memory_allocated, self.device))

    @staticmethod
    def to_host(x: Any) -> Any:
        return x.detach().cpu().numpy()

    def sync(self) -> None:
        """Wait for the device's queued work (CUDA); nothing to wait for on the CPU."""
        if self.is_gpu:
            self._module.cuda.synchronize(self.device)

    def _make_device_rng(self, seed: int) -> Any:
        gen = self._module.Generator(device=self.device)
        gen.manual_seed(seed)
        return gen

    def normal(self, shape: tuple[int, ...], std: float = 1.0) -> Any:
        return self._module.randn(shape, generator=self._device_rng, device=self.device,
                                  dtype=self.dtype) * std

    def uniform(self, shape: tuple[int, ...]) -> Any:
        return self._module.rand(shape, generator=self._device_rng, device=self.device,
                                 dtype=self.dtype)

    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        torch = self._module
        return torch.matmul(a, b) if out is None else torch.matmul(a, b, out=out)

    def sum_rows(self, a: Any, out: Any = None) -> Any:
        torch = self._module
        return torch.sum(a, 0) if out is None else torch.sum(a, 0, out=out)

    def relu_owned(self, x: Any) -> Any:
        """max(x, 0) written over the fresh ``x`` (``clamp_min_``: the in-place form of the
        namespace's ``maximum`` with a scalar, the same values): no new tensor per activation.
        ``predict_proba`` on 10,000 Fashion-MNIST rows: 0.2-1.5 ms less (37-45 ms, three
        interleaved runs), level with PyTorch's own ``nn.Sequential``."""
        torch = self._module
        if type(x) is torch.Tensor and x.dtype.is_floating_point:
            return x.clamp_min_(0.0)
        return super().relu_owned(x)

    def affine(self, x: Any, w: Any, b: Any) -> Any:
        """``x @ w + b`` (the reference: the product, then the bias added to every row in
        place) as one ``torch.addmm``: the bias is the GEMM's starting value, so no second
        pass over the output (~4% of ``predict_proba`` on 10,000 Fashion-MNIST rows, the
        same as ``nn.Linear``).  The same sums, added in the GEMM's order: equal to float
        rounding, not to the bit.  A Dense layer calls it where its backend has the hook."""
        torch = self._module
        if (type(x) is torch.Tensor and type(w) is torch.Tensor and type(b) is torch.Tensor
                and x.ndim == 2 and w.ndim == 2 and b.ndim == 1
                and x.dtype == w.dtype == b.dtype and x.dtype.is_floating_point):
            return torch.addmm(b, x, w)
        return self.add_rows(x @ w, b)

    def all_finite(self, x: Any) -> bool:
        """A float tensor's sum, read on the host: a finite sum proves every element finite
        (any NaN or infinity makes it NaN or infinite), in one pass and without a boolean
        array (0.8 ms for 10,000 x 784 float32 on the CPU, against 1.6 ms for the sum, a
        filled boolean array and its minimum before); a sum that is not finite (a NaN/inf,
        or finite values that overflow) takes the reference's element-wise look.  One sync
        on a GPU either way."""
        torch = self._module
        if type(x) is torch.Tensor:
            if not (x.dtype.is_floating_point or x.dtype.is_complex):
                return True  # integers and booleans have no NaN or infinity
            if x.dtype.is_floating_point and math.isfinite(torch.sum(x).item()):
                return True
        return super().all_finite(x)

    def relu_grad(self, y: Any, dout: Any) -> Any:
        """``where(y > 0, dout, 0)`` (the reference) in one of torch's kernels:
        ``threshold_backward(dout, y', 0)`` is ``0 where y' <= 0, else dout``, the same for
        every ``y'`` but NaN, so ``y'`` is ``y`` with NaN as 0 (NaN > 0 is false: 0, as in the
        reference).  ~25 us instead of ~50-120 us for 128 x 256 float32 (the comparison's
        boolean temporary and ``where``'s broadcast of the scalar)."""
        torch = self._module
        if (type(y) is torch.Tensor and type(dout) is torch.Tensor and y.shape == dout.shape
                and y.dtype == dout.dtype and y.dtype.is_floating_point
                and y.device == dout.device):
            return torch.ops.aten.threshold_backward(dout, torch.nan_to_num(y, nan=0.0), 0.0)
        return super().relu_grad(y, dout)

    def adam(self, p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, lr_t: float,
             eps_t: float) -> None:
        """Adam's step in place (``xpnet.nn.optimizers.Adam`` is the formula, in the paper's
        efficient form: ``lr_t`` and ``eps_t`` carry the bias correction).

        Big contiguous buffers of one dtype and device take torch's fused Adam
        (``torch._fused_adam_``, what ``torch.optim.Adam(fused=True)`` runs: one pass instead
        of seven, ~100 us instead of ~230 us for the 784-256-128-10 network's 235k
        parameters on one CPU thread).  It computes ``m <- b1 m + (1 - b1) g`` (as
        ``m.lerp_(g, 1 - b1)``), ``v <- b2 v + (1 - b2) g^2`` and
        ``p <- p - lr m / bc1 / (sqrt(v) / sqrt(bc2) + eps)`` with ``bc = 1 - beta^step``;
        it is handed ``lr = lr_t``, ``eps = eps_t`` and a step of +inf, so that ``beta^step``
        is exactly 0 for every beta in [0, 1), both corrections are exactly 1 and the step is
        ``p - lr_t m / (sqrt(v) + eps_t)``: the formula above, with xpnet's own correction
        (the kernel never advances a step it is handed).  Anything else takes three of
        torch's multi-operand in-place kernels."""
        torch = self._module
        if (p.numel() >= self.FUSED_ADAM_MIN_SIZE and self._fused_adam is not None
                and all(type(a) is torch.Tensor and a.dtype == p.dtype and a.device == p.device
                        and a.shape == p.shape and a.is_contiguous() for a in (p, g, m, v))
                and p.dtype in (torch.float32, torch.float64)):
            self._fused_adam([p], [g], [m], [v], [], [self._inf_step(p.device)], lr=lr_t,
                             beta1=b1, beta2=b2, weight_decay=0.0, eps=eps_t, amsgrad=False,
                             maximize=False)
            return
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        p.addcdiv_(m, v.sqrt().add_(eps_t), value=-lr_t)

    def _inf_step(self, device: Any) -> Any:
        """The fused Adam's step count, +inf (see :meth:`adam`), one 0-d tensor per device."""
        step = self._inf_steps.get(device)
        if step is None:
            torch = self._module
            step = self._inf_steps[device] = torch.full((), math.inf, dtype=torch.float32,
                                                        device=device)
        return step

    def softmax(self, z: Any) -> Any:  # type: ignore[override]
        """Row-wise softmax (``xpnet.nn.losses.softmax`` is the formula): the reference's
        operations in the same order, two of them in place on the fresh ``z - max`` (no new
        array for ``exp`` or the division).  torch's own ``softmax`` is ~4x slower than this
        on 10,000 x 10 float32 (one CPU thread)."""
        torch = self._module
        if type(z) is not torch.Tensor or z.ndim != 2 or not z.dtype.is_floating_point:
            e = self.xp.exp(z - self.xp.max(z, axis=1, keepdims=True))
            return e / self.xp.sum(e, axis=1, keepdims=True)
        e = torch.sub(z, torch.amax(z, dim=1, keepdim=True)).exp_()
        return e.div_(torch.sum(e, dim=1, keepdim=True))

    def conv2d(self, x: Any, w: Any, b: Any, stride: int, pad: int) -> Any:
        """``xpnet.nn.conv.Convolution``'s forward (im2col there is the reference) by
        torch's own convolution."""
        return self._module.nn.functional.conv2d(x, w, b, stride, pad)

    def conv2d_backward(self, dout: Any, x: Any, w: Any, stride: int, pad: int,
                        input_grad: bool = True) -> tuple[Any, Any, Any]:
        """(dx, or None without ``input_grad``; dW; db) of :meth:`conv2d`, in one of torch's
        kernels (``Convolution.backward``'s col2im is the reference)."""
        return self._module.ops.aten.convolution_backward(
            dout, x, w, [w.shape[0]], [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1,
            [input_grad, True, True])


def _namespace(xp: Any, torch: Any) -> Any:
    """array_api_compat's torch namespace with the few hot functions whose compat wrappers
    cost more than the work (Python-scalar arguments, dtype casts, row gathers) replaced by
    torch's own equivalents.  Same semantics, built once per backend."""
    ns = namespace_copy(xp)

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

    def all(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
        # all of a boolean array as the minimum of its bytes (0 or 1): torch.all reads ~2 GB/s
        # on the CPU, amin over uint8 ~15x faster (10,000 x 784: 0.27 ms instead of 3.8 ms)
        if (axis is None and not keepdims and type(x) is torch.Tensor
                and x.dtype == torch.bool and x.numel() >= ALL_BYTES_MIN_SIZE):
            return torch.amin(x.view(torch.uint8)) != 0
        return xp.all(x, axis=axis, keepdims=keepdims)

    ns.maximum, ns.where, ns.take, ns.astype, ns.all = maximum, where, take, astype, all
    return ns


#: boolean arrays from this many elements take ``all`` as the minimum of their bytes
ALL_BYTES_MIN_SIZE = 1 << 12

