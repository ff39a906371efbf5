"""Weight initializers by name: the standard deviation each rule gives a layer.

The one table of names (aliases map to one rule):

=========================== ================================ ============================
name                        rule (std of the normal draw)    where
=========================== ================================ ============================
"he", "relu", "kaiming"     sqrt(2 / fan_in)                 everywhere
"lecun", "sigmoid", "tanh"  sqrt(1 / fan_in)                 everywhere
"glorot"                    sqrt(2 / (fan_in + fan_out))     everywhere
"xavier"                    sqrt(2 / (fan_in + fan_out))     estimators (Keras' meaning)
"xavier"                    sqrt(1 / fan_in)                 the book's classes (its "Xavier")
"normal", "std"             1
"ones", "zeros", a float    the constant, or that std
=========================== ================================ ============================

The book's classes (MultiLayerNet, MultiLayerNetExtend and the seed models) pass
``book=True``, so ``weight_init_std="xavier"`` means what "Deep Learning from Scratch" means.
Weights are drawn on the host from the model's seed and moved once, so the same
``random_state`` starts every backend from the same weights.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["INITIALIZERS", "BOOK_NAMES", "init_scale", "init_weight", "auto_rule"]

#: accepted names (aliases map to one rule)
INITIALIZERS = {
    "ones": "ones", "constant": "ones", "zeros": "zeros",
    "normal": "normal", "std": "normal",
    "xavier": "glorot", "glorot": "glorot",
    "lecun": "lecun", "sigmoid": "lecun", "tanh": "lecun",
    "he": "he", "relu": "he", "kaiming": "he",
}


#: where the book's classes give a name another rule than the table above
BOOK_NAMES = {"xavier": "lecun"}


def auto_rule(activation: str) -> str:
    """The rule ``weight_init="auto"`` picks for a hidden activation: He for ReLU, Xavier
    otherwise (the estimators and the command line both ask here).

    Example:
        >>> auto_rule("relu"), auto_rule("tanh")
        ('he', 'xavier')
    """
    return "he" if activation == "relu" else "xavier"


def _rule(init: str | float, name: str, book: bool) -> str | float:
    if isinstance(init, bool):
        raise TypeError(f"{name}={init!r} must be a name or a float standard deviation")
    if isinstance(init, (int, float)):
        if not math.isfinite(init) or init < 0:
            raise ValueError(f"{name}={init!r}: a standard deviation must be finite and >= 0")
        return float(init)
    if not isinstance(init, str):
        raise TypeError(f"{name}={init!r} must be a name or a float standard deviation")
    key = init.lower()
    if key not in INITIALIZERS:
        raise ValueError(
            f"{name}={init!r} is not a known initializer; use one of "
            f"{', '.join(sorted(INITIALIZERS))} or a float standard deviation"
        )
    return BOOK_NAMES[key] if book and key in BOOK_NAMES else INITIALIZERS[key]


def init_scale(init: str | float, fan_in: int, fan_out: int,
               name: str = "weight_init", book: bool = False) -> float | str:
    """Standard deviation of the normal draw for a (fan_in, fan_out) weight, by the table in
    the module docstring (``book=True``: the book's meaning of its names).

    Returns "ones" or "zeros" for the constant rules.  ``name`` is the argument named in errors.

    Example:
        >>> init_scale("xavier", 100, 50) == init_scale("glorot", 100, 50)
        True
        >>> init_scale("xavier", 100, 50, book=True)
        0.1
    """
    rule = _rule(init, name, book)
    if isinstance(rule, float):
        return rule
    return {
        "normal": 1.0,
        "glorot": math.sqrt(2.0 / (fan_in + fan_out)),
        "lecun": math.sqrt(1.0 / fan_in),
        "he": math.sqrt(2.0 / fan_in),
    }.get(rule, rule)


def init_weight(backend: Any, init: str | float, fan_in: int, fan_out: int) -> Any:
    """A (fan_in, fan_out) weight on ``backend`` initialized by the rule ``init``.

    Example:
        >>> from xpnet.backends import get_backend
        >>> w = init_weight(get_backend("numpy", random_state=0), "he", 200, 50)
        >>> w.shape, w.dtype, round(float(w.std()), 2)  # He: sqrt(2 / 200) = 0.1
        ((200, 50), dtype('float32'), 0.1)
        >>> init_weight(get_backend("numpy"), "ones", 2, 3).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    host = backend.host_init((fan_in, fan_out), init_scale(init, fan_in, fan_out))
    return backend.xp.asarray(host, device=backend.device)
