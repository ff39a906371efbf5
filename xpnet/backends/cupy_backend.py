"""CuPy on an NVIDIA GPU: CuPy's own generator draws on the device, ``sync`` waits for the
stream.  The home of CuPy's fused kernels (e.g. an ``ElementwiseKernel`` for Adam): set them
in ``__init__`` and the optimizers and losses pick them up."""

from __future__ import annotations

from typing import Any

from .base import Backend, BackendUnavailableError, MemoryProbe, import_library

_CUPY_FIX = ('pip install -e ".[cuda12]" in an xpnet checkout (".[cuda13]" for CUDA 13)')


class CupyBackend(Backend):
    """CuPy arrays on GPU ``device`` (None or "cuda" for GPU 0, "cuda:1", "1", or a
    ``cupy.cuda.Device``).

    Example:
        >>> b = CupyBackend("cuda:0", random_state=0)  # doctest: +SKIP
        >>> b.spec, b.is_gpu  # doctest: +SKIP
        ('cupy:cuda:0', True)
    """

    name = "cupy"

    def _open(self, xp: Any, device: Any) -> tuple[Any, Any]:
        spec = self._asked(device)
        cupy = self._module = import_library("cupy", _CUPY_FIX, spec)
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # CUDA driver missing or broken
            raise BackendUnavailableError(
                f"backend={spec!r}: CuPy is installed but no usable NVIDIA GPU was found ({err}); "
                f"run on a machine with a GPU and CUDA driver, or use backend='numpy'"
            ) from err
        if isinstance(device, cupy.cuda.Device):
            index = device.id
        else:
            index = int(str(device or "").replace("cuda", "").lstrip(":") or 0)
        if count == 0 or index >= count:
            raise BackendUnavailableError(
                f"backend={spec!r}: {count} CUDA device(s) visible; use backend='numpy' here"
            )
        if xp is None:
            import array_api_compat.cupy as xp  # noqa: PLC0415 - CuPy is here
        return xp, cupy.cuda.Device(index)

    @property
    def device_name(self) -> str:
        return f"cuda:{self.device.id}"

    @property
    def is_gpu(self) -> bool:
        return True

    def threads(self) -> int | None:
        """None: CuPy's kernels run on the GPU."""
        return None

    def memory_probe(self) -> MemoryProbe:
        """The growth of CuPy's memory pool on this device, emptied when the probe opens (the
        pool keeps freed blocks, so its total is its peak)."""
        pool = self._module.get_default_memory_pool()
        with self.device:
            pool.free_all_blocks()

        def total_bytes() -> int:
            with self.device:
                return pool.total_bytes()
        return MemoryProbe("cupy-pool-total-bytes", total_bytes)

    def device_context(self) -> Any:
        """The device: CuPy runs kernels on the current device."""
        return self.device

    @staticmethod
    def to_host(x: Any) -> Any:
        return x.get()

    def sync(self) -> None:
        """Wait for the current stream's queued work."""
        self._module.cuda.get_current_stream().synchronize()

    def _make_device_rng(self, seed: int) -> Any:
        with self.device:
            return self._module.random.RandomState(seed)

    def normal(self, shape: tuple[int, ...], std: float = 1.0) -> Any:
        with self.device:
            return self._device_rng.standard_normal(shape, dtype=self.dtype_name) * std

    def uniform(self, shape: tuple[int, ...]) -> Any:
        with self.device:
            return self._device_rng.random_sample(shape, dtype=self.dtype_name)
