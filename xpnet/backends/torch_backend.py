"""PyTorch (CPU or CUDA): torch's generator draws on the device, ``out=`` variants of the
products, Adam with torch's in-place multi-operand kernels, torch's own convolution, and a
namespace whose few hot functions call torch directly."""

from __future__ import annotations

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

    def adam(self, p: Any, g: Any, m: Any, v: Any, b1: float, b2: float, lr_t: float,
             eps_t: float) -> None:
        """Adam's step in place (``xpnet.nn.optimizers.Adam`` is the formula) in three of
        torch's multi-operand in-place kernels."""
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        p.addcdiv_(m, v.sqrt().add_(eps_t), value=-lr_t)


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

    ns.maximum, ns.where, ns.take, ns.astype = maximum, where, take, astype
    return ns
