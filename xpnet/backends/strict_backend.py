"""array_api_strict: the standard and nothing more, on its default device or a simulated one
("array_api_strict:device1"), where an array created without ``device=`` lands on the wrong
device and mixing raises: the mistake that breaks CuPy and torch:cuda, caught on a CPU."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend, import_library


class StrictBackend(Backend):
    """array_api_strict arrays on ``device`` (None for the default, "device1", or a
    ``array_api_strict.Device``).

    Example:
        >>> b = StrictBackend(device="device1", random_state=0)
        >>> b.spec, b.zeros(2).device == b.device
        ('array_api_strict:device1', True)
    """

    name = "array_api_strict"

    def _open(self, xp: Any, device: Any) -> tuple[Any, Any]:
        strict = self._module = import_library("array_api_strict", 'pip install array-api-strict',
                                self._asked(device))
        if device is not None and not isinstance(device, strict.Device):
            device = strict.Device(device)
        return xp or strict, device

    @property
    def device_name(self) -> str:
        return "cpu" if self.device is None else str(self.device).split("'")[1].lower()

    def compute_key(self) -> str:
        """"numpy": array_api_strict computes with NumPy underneath."""
        return "numpy"

    def affine_checked(self, x: Any, w: Any, b: Any, relu: bool) -> tuple[Any, bool]:
        """The reference, without NumPy's warnings about inf * 0 or overflow in the product
        (the returned flag is the answer to them)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return super().affine_checked(x, w, b, relu)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        import array_api_strict  # noqa: PLC0415 - only reached with strict arrays

        return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))
