"""Training curves and benchmark charts written to image files.

Uses matplotlib's object API (``matplotlib.figure.Figure`` rendered by the Agg canvas), so it
never touches pyplot's global state or the user's interactive backend. Every function writes
one file (PNG unless ``path`` names another format) and returns its :class:`pathlib.Path`.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..nn.trainer import History

__all__ = ["history_of", "plot_bench", "plot_curves", "plot_grid", "plot_history",
           "FOREIGN_CURVES"]

#: where other libraries (and the book's own Trainer) keep a curve -> xpnet's name for it.
#: xpnet's own models hold a History and are never searched this way.
FOREIGN_CURVES = {"loss_curve_": "loss", "validation_scores_": "val_score",  # scikit-learn
                  "train_loss_list": "loss", "val_loss_list": "val_loss",  # the book's Trainer
                  "train_acc_list": "train_acc", "test_acc_list": "test_acc",
                  "losses": "loss", "val_losses": "val_loss"}  # the seeds' own classes


def _floats(values: Any) -> list[float] | None:
    """``values`` as a list of floats, or None when it is not a non-empty sequence."""
    if values is None or isinstance(values, (str, bytes, Mapping)):
        return None
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return out or None


def history_of(model: Any) -> History:
    """The training :class:`~xpnet.History` of ``model``.

    xpnet's models hold one: a History is returned as it is; a Trainer or seed model gives
    its ``history``, an estimator its ``history_``.  A mapping of name -> sequence becomes a
    History of its non-empty curves (a Keras ``History`` object's ``history`` dict too), and
    an object of another library gives the curves named in :data:`FOREIGN_CURVES`.

    Example:
        >>> history_of({"loss": [1.0, 0.5]})["loss"]
        [1.0, 0.5]
    """
    for attribute in ("history_", "history"):
        held = getattr(model, attribute, None)
        if isinstance(held, History):
            return held
    if isinstance(model, History):
        return model
    if not isinstance(model, Mapping) and isinstance(getattr(model, "history", None), Mapping):
        model = model.history
    history = History()
    if isinstance(model, Mapping):
        history.update((str(k), v) for k, v in ((k, _floats(v)) for k, v in model.items()) if v)
    else:
        for attribute, key in FOREIGN_CURVES.items():
            values = _floats(getattr(model, attribute, None))
            if values and key not in history:
                history[key] = values
    if not history:
        raise TypeError(
            f"history_of(model): no training history found on {type(model).__name__} "
            f"(expected an xpnet History or a model holding one, a dict of curves, or "
            f"{', '.join(f'`{a}`' for a in FOREIGN_CURVES)})")
    return history


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _lines(ax: Any, curves: Mapping[str, Sequence[float]],
           styles: Mapping[str, str] | None = None) -> None:
    """One line per curve against epochs 1, 2, ... (whole-number ticks).  A curve that ends
    in NaN/inf (a diverged run) is drawn up to its last finite value, marked with an x there
    and labelled "(diverged)", instead of vanishing."""
    from matplotlib.ticker import MaxNLocator

    for label, values in curves.items():
        values = _floats(values) or []
        finite = [v for v in values if math.isfinite(v)]
        diverged = len(finite) < len(values)
        line, = ax.plot(range(1, len(finite) + 1), finite, (styles or {}).get(label, "-"),
                        label=f"{label} (diverged)" if diverged else str(label))
        if diverged and finite:
            ax.plot([len(finite)], [finite[-1]], "x", color=line.get_color(), markersize=8)
        elif diverged:  # nothing finite to draw: say so in the panel
            ax.text(0.5, 0.5, f"{label}: diverged", color=line.get_color(), ha="center",
                    transform=ax.transAxes)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_history(model_or_history: Any, path: str | os.PathLike, title: str | None = None, *,
                 logy: bool = False) -> Path:
    """Plot the losses (left) and the accuracies or R^2 scores (right, if any) of a model.

    ``model_or_history`` is anything :func:`history_of` accepts.  Each curve is drawn once,
    on the panel :meth:`~xpnet.History.panel` names, with the label of
    :attr:`~xpnet.History.CURVES` ("training loss", "validation accuracy", ...); the
    learning rate gets a panel of its own only when a schedule changed it.  ``logy`` puts
    the loss panel on a log scale.

    Example:
        >>> import tempfile, os
        >>> plot_history({"loss": [1.0, 0.5], "val_acc": [0.6, 0.8]},
        ...              os.path.join(tempfile.mkdtemp(), "h.png")).suffix
        '.png'
    """
    history = history_of(model_or_history)
    panels: dict[str, dict[str, list[float]]] = {}
    for key, values in history.items():
        if key == "lr" and len(set(values)) <= 1:
            continue  # a constant learning rate is a setting, not a curve
        label = History.CURVES.get(key, (None, key))[1]
        panels.setdefault(History.panel(key), {})[label] = values
    order = [name for name in dict.fromkeys(panel for panel, _ in History.CURVES.values())
             if name in panels]  # History's order: loss, accuracy, score, learning rate
    fig = _figure(5.0 * len(order), 4.0)
    for i, name in enumerate(order):
        ax = fig.add_subplot(1, len(order), i + 1)
        _lines(ax, panels[name])
        ax.set_xlabel("epoch")
        ax.set_ylabel({"score": "R^2"}.get(name, name))
        if logy and name == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_curves(curves: Mapping[str, Sequence[float]], path: str | os.PathLike,
                title: str | None = None, xlabel: str = "epoch", ylabel: str = "loss",
                ylim: tuple[float, float] | None = None) -> Path:
    """Compare several curves (e.g. one per optimizer or initializer) on one chart.

    Example:
        >>> import tempfile
        >>> from matplotlib.image import imread
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = plot_curves({"sgd": [1.0, 0.6, 0.4], "adam": [1.0, 0.3, 0.1]},
        ...                        f"{tmp}/loss", title="optimizers")
        ...     path.name, imread(path).shape  # 6 x 4 inches at 100 dpi, RGBA
        ('loss.png', (400, 600, 4))
    """
    if not curves:
        raise ValueError("plot_curves: curves is empty")
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    _lines(ax, curves)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_grid(panels: Sequence[tuple[str, Mapping[str, Sequence[float]]]],
              path: str | os.PathLike, ncols: int = 4, ylim: tuple[float, float] | None = None,
              suptitle: str | None = None, styles: Mapping[str, str] | None = None,
              xlabel: str = "epoch", ylabel: str | None = None) -> Path:
    """A grid of small panels, each ``(title, {label: curve})``; the legend is on the last one,
    ``xlabel`` under the grid and ``ylabel`` (what the curves measure) beside it.

    ``styles`` maps a curve label to a matplotlib line style (e.g. ``{"train": "--"}``).
    For example the BatchNorm-versus-none comparison over 16 weight scales, or the best
    trials of a hyper-parameter search.

    Example:
        >>> import tempfile, os
        >>> plot_grid([("lr=0.1", {"train": [0.5, 0.8]})], os.path.join(tempfile.mkdtemp(),
        ...           "g.png"), ylabel="accuracy").suffix
        '.png'
    """
    if not panels:
        raise ValueError("plot_grid: panels is empty")
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig = _figure(3.0 * ncols, 2.4 * nrows)
    for i, (title, curves) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _lines(ax, curves, styles)
        ax.set_title(str(title), fontsize=9)
        ax.tick_params(labelsize=7)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if i == len(panels) - 1:
            ax.legend(fontsize=7)
    if suptitle:
        fig.suptitle(textwrap.fill(suptitle, 30 * ncols))
    fig.supxlabel(xlabel, fontsize=9)
    if ylabel:
        fig.supylabel(ylabel, fontsize=9)
    return _save(fig, path)


def plot_bench(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike,
               title: str | None = None) -> Path:
    """Horizontal bars of ``row["seconds_per_epoch"]`` labelled ``backend [device]``.

    Bars are annotated with the time and, when a row has one, its ``speedup``.

    Example:
        >>> import tempfile
        >>> from matplotlib.image import imread
        >>> rows = [{"backend": "numpy", "device": "cpu", "seconds_per_epoch": 0.5},
        ...         {"backend": "torch", "device": "cuda", "seconds_per_epoch": 0.05,
        ...          "speedup": 10.0}]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = plot_bench(rows, f"{tmp}/bench.png")
        ...     path.name, imread(path).shape  # 7 inches wide, 1 + 0.45 per bar high
        ('bench.png', (190, 700, 4))
    """
    if not rows:
        raise ValueError("plot_bench: rows is empty")
    labels, seconds, notes = [], [], []
    for i, row in enumerate(rows):
        if "backend" not in row or "seconds_per_epoch" not in row:
            raise ValueError(f"plot_bench: rows[{i}] needs 'backend' and 'seconds_per_epoch'")
        labels.append(f"{row['backend']} {row.get('device') or ''}".strip())
        seconds.append(float(row["seconds_per_epoch"]))
        speedup = row.get("speedup")
        notes.append(f"{seconds[-1]:.3g} s" + (f"  ({float(speedup):.1f}x)" if speedup else ""))
    fig = _figure(7.0, 1.0 + 0.45 * len(rows))
    ax = fig.add_subplot()
    bars = ax.barh(range(len(rows)), seconds, color="tab:blue")
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.bar_label(bars, notes, padding=3, fontsize=8)
    ax.set_xlim(0, max(seconds) * 1.35 or 1.0)
    ax.set_xlabel("seconds per epoch")
    if title:
        ax.set_title(textwrap.fill(title, 70), fontsize=10)
    return _save(fig, path)
