"""The math: layers, losses, optimizers, initializers, networks, the Trainer and the seed models.

Everything here is written once against an Array API namespace ``xp``, which a model takes from
its :class:`~xpnet.backends.Backend` once, when it is built.  No module here imports an array
library, scikit-learn or a host-side edge (import-linter checks it).
"""
