"""Any other Array API namespace module (e.g. one that array_api_compat does not wrap): the
generic backend with the module's name, owning every array that is not NumPy's, CuPy's,
torch's or array_api_strict's."""

from __future__ import annotations

from typing import Any

from .base import Backend, library_of


class NamespaceBackend(Backend):
    """The backend of a namespace module ``xp`` (anything with ``__array_api_version__``).

    Example:
        >>> import array_api_strict
        >>> NamespaceBackend(array_api_strict, random_state=0).name
        'array_api_strict'
    """

    def _open(self, xp: Any, device: Any) -> tuple[Any, Any]:
        self.name, self._module = xp.__name__, xp
        return xp, device

    def owns(self, x: Any) -> bool:
        return library_of(x) is None and hasattr(x, "__array_namespace__")
