"""The ``xpnet`` command line: ``train``, ``bench``, ``search``, ``predict`` and ``env``.

``xpnet train`` with no options trains the default network (an MLP with one hidden layer of
100 units, Adam) on scikit-learn's digits for 30 epochs on the CPU, shows a progress bar,
prints one metrics line and writes the loss curve to ``xpnet-loss.png``.

The choices come from the library's own tables (activations, initializers, optimizers,
datasets, backends) and the values are checked by the library's own validators, under the
option's name; only the model kinds (:data:`MODELS`) are the command line's own table.
Mistakes (an unknown dataset, a backend that cannot be had here, a learning rate <= 0,
missing or damaged data files, an output path that cannot be written, checked before any
work) end with ONE line on stderr, ``xpnet: error: <message>``, and exit status 2; a fit that
diverged, or an unexpected error, with one line and status 1; Ctrl-C with ``xpnet:
interrupted`` and status 130; a closed pipe (``xpnet env | head -2``) silently with status 141,
as if killed by SIGPIPE. Set ``XPNET_DEBUG=1`` to see the full traceback instead.

``xpnet train --save`` writes the scaling it applied to the features together with the model,
as a scikit-learn ``Pipeline`` in one file, so ``xpnet predict`` takes raw features.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import signal
import sys
import textwrap
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ..backends import BACKEND_NAMES, get_backend
from ..backends.validation import check_fraction, check_hidden_sizes, check_positive
from ..edges import datasets
from ..edges.estimators import SOLVERS
from ..nn.init import INITIALIZERS, auto_rule, init_scale
from ..nn.layers import ACTIVATIONS
from ..nn.optimizers import OPTIMIZERS
from ..nn.trainer import DivergenceError
from . import bench, machine

__all__ = ["main", "build_parser", "CLIError", "ModelKind", "MODELS", "SEED_MODELS",
           "OPTIMIZERS"]

PROG = "xpnet"


@dataclass(frozen=True)
class ModelKind:
    """What ``xpnet train --model NAME`` trains, and the defaults the command line gives it.

    Example:
        >>> kind = MODELS["dual"]
        >>> kind.epochs, kind.batch_size, kind.seed
        (2000, None, 'DualLayer')
        >>> ModelKind("my model", epochs=5, batch_size=16).seed is None
        True
    """

    summary: str  # one line of the help
    epochs: int  # --epochs when not given (the seeds' own numbers for their networks)
    batch_size: int | None  # --batch-size when not given; None: the full batch
    seed: str | None = None  # a seeds' binary network (breast_cancer, sigmoid, sgd): its class


#: ``--model`` choices: the command line's own table
MODELS = {
    "mlp": ModelKind("xpnet.MLPClassifier (scikit-learn style), the default", 30, 32),
    "multilayer": ModelKind("MultiLayerNetExtend + Trainer (the book's chapter 6); "
                            "--batchnorm, --dropout", 30, 32),
    "cnn": ModelKind("Network + Trainer (chapter 7): conv3x3-BN-ReLU-maxpool2 per --filters, "
                     "then dense --hidden; image datasets (digits, mnist, fashion_mnist)", 10, 32),
    "dual": ModelKind("DualLayer: one sigmoid hidden layer, ones-initialized (seed 001), full "
                      "batch", 2000, None, seed="DualLayer"),
    "random-init": ModelKind("RandomInitNetwork: DualLayer with N(0, 1) initial weights, full "
                             "batch", 500, None, seed="RandomInitNetwork"),
    "minibatch": ModelKind("MinibatchNetwork: RandomInitNetwork trained on mini-batches "
                           "(--batch-size)", 100, 32, seed="MinibatchNetwork"),
    "single": ModelKind("SingleLayer: logistic regression, full batch", 500, None,
                        seed="SingleLayer"),
}
SEED_MODELS = tuple(name for name, kind in MODELS.items() if kind.seed)
#: backends ``xpnet env`` probes: every library, and PyTorch's GPU as its own line
BACKENDS_TO_PROBE = (*BACKEND_NAMES, "torch:cuda")

#: options naming a file a command writes (dest, flag): checked before any work is done
_OUTPUTS = (("save", "--save"), ("plot", "--plot"), ("json_path", "--json"),
            ("plot_path", "--plot"), ("onnx_path", "OUTPUT"))
#: exceptions from xpnet that become one line on stderr (exit 2) instead of a traceback
_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, ImportError,
                                                  RuntimeError, OSError, ArithmeticError)

MAIN_EPILOG = """\
examples:
  xpnet train                                   MLP on digits, 30 epochs, CPU (a few seconds)
  xpnet train --dataset breast_cancer --model dual --epochs 20000 --l2 0.01
  xpnet train --model multilayer --hidden 100,100 --batchnorm --dropout 0.15
  xpnet train --model cnn --dataset fashion_mnist --epochs 5 --save cnn.npz
  xpnet train --dataset fashion_mnist --backend cupy --hidden 256,128 --save model.npz
  xpnet bench --help                            time one training run on each backend
  xpnet search --help                           random hyper-parameter search
  xpnet env                                     versions and the backends usable here

Set XPNET_DEBUG=1 to get a traceback instead of the one-line error messages.
"""

TRAIN_EPILOG = """\
models:
{models}
  The last four are the seeds' binary networks: they train on breast_cancer only, with
  plain gradient descent and sigmoid units.

datasets:
  breast_cancer and digits ship with scikit-learn. mnist and fashion_mnist are read from
  $XPNET_DATA/<name>, ~/.xpnet/datasets/<name> or /usr/share/datasets/<name> (Debian's
  dataset-fashion-mnist package installs Fashion-MNIST there).

examples:
  xpnet train
  xpnet train --dataset breast_cancer --model random-init --l2 0.01
  xpnet train --model multilayer --optimizer momentum --lr 0.05 --batchnorm --epochs 50
  xpnet train --dataset fashion_mnist --hidden 256,128 --early-stopping 5 --save fm.npz
  xpnet train --backend torch --dtype float64 --no-plot --quiet
"""


class CLIError(Exception):
    """A mistake on the command line, reported as one line ``xpnet: error: ...`` (exit 2).

    Example:
        >>> main(["train", "--model", "dual", "--dataset", "digits"])  # one line on stderr
        2
        >>> raise CLIError("--model dual trains on --dataset breast_cancer only")
        Traceback (most recent call last):
        ...
        xpnet.tools.cli.CLIError: --model dual trains on --dataset breast_cancer only
    """


# ---------------------------------------------------------------------------- argparse glue
class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr, ``xpnet: error: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        _print_error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(2)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout and appends "(default: X)" where a default says something."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default is None or default is False
                or default == argparse.SUPPRESS
                or not action.option_strings or "default:" in text):
            return text
        return f"{text} (default: {default})"


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=90)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _print_error(message: str) -> None:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- argument types
def _number(text: str) -> int | float:
    """The text as an int when it is one, else as a float."""
    for kind in (int, float):
        with suppress(ValueError):
            return kind(text)
    raise ValueError(f"expected a number, got {text!r}")


def _checked(flag: str, check: Callable[..., Any], parse: Callable[[str], Any] = _number,
             **kwargs: Any) -> Callable[[str], Any]:
    """An argparse type: ``check(flag, parse(text), **kwargs)``, a validator of
    :mod:`xpnet.backends.validation`, so its message names the option and the fix."""
    def convert(text: str) -> Any:
        try:
            return check(flag, parse(text), **kwargs)
        except (ValueError, TypeError) as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return convert


def _weight_init(flag: str, text: str) -> str | float:
    """"auto", an initializer's name or a standard deviation, checked by ``xpnet.nn.init``."""
    value: str | float = text.strip().lower()
    if value != "auto":
        with suppress(ValueError):
            value = float(value)
        init_scale(value, 1, 1, flag)  # raises ValueError/TypeError naming the option
    return value


# ------------------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    """The ``xpnet`` argument parser.

    Example:
        >>> parser = build_parser()
        >>> parser.parse_args(["env"])._command
        'env'
        >>> args = parser.parse_args(["train", "--epochs", "3", "--hidden", "16,8"])
        >>> args._command, args.model, args.epochs, args.hidden
        ('train', 'mlp', 3, [16, 8])
    """
    parser = _Parser(
        prog=PROG, formatter_class=_Formatter, epilog=MAIN_EPILOG,
        description=_wrap("xpnet: readable neural networks written once against the Python "
                          "Array API; the same code trains on NumPy, CuPy, PyTorch and "
                          "array_api_strict."))
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {machine.version('xpnet')}")
    sub = parser.add_subparsers(dest="_command", metavar="COMMAND", title="commands",
                                parser_class=_Parser)
    _add_train(sub)
    bench.add_arguments(_command(sub, "bench", bench.run_cli,
                                 "time training on each backend (CPU and GPU)",
                                 "xpnet bench: time training on each backend (CPU and GPU)."))
    _add_search(sub)
    _add_predict(sub)
    p = _command(sub, "export", _export, "write a saved model as ONNX (onnxruntime, any language)",
                 "Run a saved model's eval forward on the ndonnx backend and write the ONNX "
                 "graph: class probabilities and labels for classifiers, predictions for "
                 "regressors, with a dynamic batch size (needs pip install -e '.[onnx]').")
    p.add_argument("model_file", metavar="MODEL", help="a model saved by xpnet (.npz)")
    p.add_argument("onnx_path", metavar="OUTPUT", help="the ONNX file to write (.onnx)")
    _command(sub, "env", _env, "versions, BLAS and the backends usable on this machine",
             "Print the xpnet, Python, NumPy/BLAS and array-api-compat versions and which "
             "backends work on this machine.")
    return parser


def _command(sub: Any, name: str, handler: Callable[[argparse.Namespace], int], summary: str,
             description: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand: its line in ``xpnet --help``, its description and what runs it."""
    p = sub.add_parser(name, help=summary, description=_wrap(description),
                       formatter_class=_Formatter, **kwargs)
    p.set_defaults(_handler=handler)
    return p


def _add_data(g: Any, dataset_help: str) -> None:
    """The options of what ``_load_split`` loads (train and search)."""
    g.add_argument("--dataset", metavar="NAME", help=f"{', '.join(datasets.DATASETS)}: "
                                                     f"{dataset_help}",
                   # the canonical name: aliases and dashes accepted (fashion-mnist)
                   type=_checked("--dataset", lambda _flag, name: datasets.resolve_name(name),
                                 parse=str))
    g.add_argument("--train-size", type=_checked("--train-size", check_positive, integer=True),
                   metavar="N", help="use only the first N training samples (quick runs on MNIST)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the MNIST / Fashion-MNIST IDX files")
    g.add_argument("--download", action="store_true",
                   help="download missing MNIST / Fashion-MNIST files (checked against their "
                        "published digests)")


def _add_where(g: Any) -> None:
    """--backend and --dtype (train and search)."""
    g.add_argument("--backend", default="numpy", metavar="NAME",
                   help=f"{', '.join(BACKEND_NAMES)}, optionally with a device (torch:cuda, ...): "
                        f"any backend= string xpnet accepts")
    g.add_argument("--dtype", default="float32",
                   help="floating dtype of weights and activations: float32 or float64")


def _add_train(sub: Any) -> None:
    models = "\n".join(f"  {name:<12} {kind.summary}" for name, kind in MODELS.items())
    p = _command(sub, "train", _train, "train a network on a dataset and plot its loss curve",
                 "Train a network, print one line of metrics (train/val/test accuracy, time) "
                 "and write the loss curve as a PNG. With no options: an MLP with one hidden "
                 "layer of 100 units, Adam, 30 epochs on scikit-learn's digits, on the CPU.",
                 epilog=TRAIN_EPILOG.format(models=models))
    g = p.add_argument_group("what to train")
    g.add_argument("--model", choices=MODELS, default="mlp", help="network to train")
    _add_data(g, "split into train / validation / test (default: digits; breast_cancer for "
                 "the seed models)")
    g.add_argument("--hidden", type=_checked("--hidden", check_hidden_sizes, parse=str),
                   metavar="SIZES",
                   help="hidden layer sizes, comma separated, e.g. 256,128 (default: 100; "
                        "the seed models take one size, default 10)")
    g.add_argument("--filters", type=_checked("--filters", check_hidden_sizes, parse=str),
                   metavar="COUNTS", help="cnn: filters of each conv-BN-ReLU-pool block, comma "
                                          "separated (default: 16,32)")
    g.add_argument("--activation", choices=ACTIVATIONS,
                   help="hidden activation (default: relu; sigmoid for the seed models)")
    g.add_argument("--weight-init", type=_checked("--weight-init", _weight_init, parse=str),
                   default="auto", metavar="RULE",
                   help=f"initial weights: auto (by the activation: {auto_rule('relu')} for "
                        f"relu, {auto_rule('tanh')} otherwise), "
                        f"{', '.join(INITIALIZERS)} or a standard deviation such as 0.01")
    g = p.add_argument_group("how to train")
    g.add_argument("--epochs", type=_checked("--epochs", check_positive, integer=True),
                   help="passes over the training data (default: " + ", ".join(
                       f"{name} {kind.epochs}" for name, kind in MODELS.items()) + ")")
    g.add_argument("--batch-size", type=_checked("--batch-size", check_positive, integer=True),
                   metavar="N", help="mini-batch size (default: " + ", ".join(
                       f"{name} {kind.batch_size or 'the full batch'}"
                       for name, kind in MODELS.items()) + ")")
    g.add_argument("--optimizer", type=str.lower, choices=OPTIMIZERS,
                   help="update rule (default: adam; the seed models use plain sgd)")
    g.add_argument("--lr", type=_checked("--lr", check_positive), metavar="RATE",
                   help="learning rate (default: the model's own: the optimizer class's "
                        "default for multilayer, learning_rate_init for mlp, the seeds' 0.1)")
    g.add_argument("--l2", type=_checked("--l2", check_positive, allow_zero=True), default=0.0,
                   metavar="LAMBDA",
                   help="L2 penalty strength: weight_decay_lambda, l2 of the seed models, "
                        "scikit-learn's alpha for mlp")
    g.add_argument("--l1", type=_checked("--l1", check_positive, allow_zero=True), default=0.0,
                   metavar="LAMBDA", help="L1 penalty strength (scaled like --l2)")
    g.add_argument("--batchnorm", action="store_true",
                   help="batch normalization before each hidden activation (mlp, multilayer)")
    g.add_argument("--dropout", type=_checked("--dropout", check_fraction), default=0.0,
                   metavar="RATIO",
                   help="inverted dropout ratio after each hidden activation (mlp, multilayer)")
    g.add_argument("--early-stopping", metavar="PATIENCE",
                   type=_checked("--early-stopping", check_positive, integer=True),
                   help="stop after PATIENCE epochs without improvement on validation data "
                        "and keep the best weights (multilayer: the validation split; mlp: "
                        "10%% of the training data held out, as scikit-learn does)")
    g.add_argument("--seed", type=int, default=0, help="random seed for weights and shuffling")
    _add_where(p.add_argument_group("where it runs"))
    g = p.add_argument_group("output")
    g.add_argument("--plot", default="xpnet-loss.png", metavar="PATH",
                   help="where to write the loss-curve PNG")
    g.add_argument("--no-plot", action="store_true", help="do not write the loss curve")
    g.add_argument("--save", metavar="PATH",
                   help="save the trained model with the scaling of its features, one .npz "
                        "(a scikit-learn Pipeline, xpnet.io.save): predict takes raw features")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar; print only the metrics line")


def _add_search(sub: Any) -> None:
    p = _command(sub, "search", _search, "random hyper-parameter search (joblib or Dask)",
                 "Seed 003's random search: an MLPClassifier (--solver, plain SGD by default, "
                 "mini-batches of 100) trained --epochs epochs per trial with a log-uniform "
                 "learning rate and weight decay, scored on the dataset's validation split "
                 "after every epoch; prints the best --top trials and writes the grid of their "
                 "curves with --plot.")
    g = p.add_argument_group("what to search")
    _add_data(g, "the search scores on its validation split")
    p.set_defaults(dataset="digits")
    g.add_argument("--hidden", default="100,100", metavar="SIZES",
                   type=_checked("--hidden", check_hidden_sizes, parse=str),
                   help="hidden layer sizes, comma-separated")
    g.add_argument("--solver", default="sgd", choices=SOLVERS,
                   help="the MLPClassifier's optimizer (sgd as seed 003)")
    for flag, low, high, what in (("--lr", 1e-6, 1e-2, "learning-rate"),
                                  ("--weight-decay", 1e-8, 1e-4, "weight-decay (alpha)")):
        g.add_argument(flag, nargs=2, type=float, default=(low, high), metavar=("LOW", "HIGH"),
                       help=f"log-uniform {what} range (default: {low:g} {high:g})")
    g = p.add_argument_group("how to search")
    for flag, default, what in (("--trials", 20, "parameter draws"),
                                ("--epochs", 50, "epochs per trial"),
                                ("--top", 10, "rows of the table")):
        g.add_argument(flag, type=_checked(flag, check_positive, integer=True), default=default,
                       help=what)
    g.add_argument("--n-jobs", type=int, default=1,
                   help="local worker processes (-1: one per CPU)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help='Dask scheduler address, e.g. tcp://127.0.0.1:8786 (needs pip install '
                        '"xpnet[dask]")')
    g.add_argument("--random-state", type=int, default=0,
                   help="seed of the draws, the split and the trials")
    _add_where(p.add_argument_group("where it runs"))
    p.add_argument("--plot", metavar="PATH",
                   help="write the grid of the best trials' curves to PATH (PNG)")


def _add_predict(sub: Any) -> None:
    p = _command(sub, "predict", _predict, "predict with a saved model from a CSV of features",
                 "Print a class label, a regressor's values (comma separated) or, with --proba, "
                 "class probabilities for each row of a CSV of raw features (no header), from a "
                 "model saved by 'xpnet train --save' (which holds its scaling) or xpnet.save.")
    p.add_argument("--model-file", required=True, metavar="PATH", help="saved model (.npz)")
    p.add_argument("--input", required=True, metavar="CSV", help="features, one sample a row")
    p.add_argument("--backend", metavar="NAME",
                   help="run on this backend instead of the one recorded in the file")
    p.add_argument("--proba", action="store_true",
                   help="print class probabilities instead of labels (where the model has them)")


# --------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xpnet`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 on success; 2 for a mistake on the command line or an error
    reported by xpnet, 1 for a fit that diverged or an unexpected error (each printed as one
    line ``xpnet: error: ...`` on stderr); 130 on Ctrl-C; 141 when stdout's reader has gone.

    Example:
        >>> main(["--version"])
        xpnet ...
        0
        >>> main(["train", "--lr", "0"])  # "xpnet: error: argument --lr: ..." on stderr
        2
    """
    debug = os.environ.get("XPNET_DEBUG", "") not in ("", "0")
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:  # the reader went away (xpnet env | head -2): stop quietly
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{PROG}: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as err:
        if debug and not isinstance(err, CLIError):
            raise
        code, message = _failure(err)
        _print_error(message)
        return code


def _run(argv: list[str]) -> int:
    """Parse ``argv``, check the output paths and run the subcommand's handler."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a parse error already printed
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "_handler", None)
    if handler is None:
        raise CLIError("missing command: choose one of train, bench, search, predict, export, env "
                       "(see 'xpnet --help')")
    args.command = " ".join([PROG, *map(shlex.quote, argv)])  # recorded by bench and search
    for dest, flag in _OUTPUTS:
        if getattr(args, dest, None) and not (dest == "plot" and getattr(args, "no_plot", False)):
            _check_output(flag, getattr(args, dest))
    return int(handler(args) or 0)


def _failure(err: Exception) -> tuple[int, str]:
    """The exit status and the one line that report ``err``."""
    if isinstance(err, DivergenceError):
        return 1, str(err)
    if isinstance(err, (CLIError, *_USER_ERRORS)):
        return 2, str(err) or type(err).__name__
    return 1, (f"unexpected {type(err).__name__}: {err} (set XPNET_DEBUG=1 to see the "
               f"traceback, and please report it)")


def _check_output(flag: str, path: str) -> None:
    """Refuse, before any work, an output ``path`` that cannot be written: a directory, or a
    file whose nearest existing folder is not a writable directory (missing folders below it
    are created when the file is written)."""
    target = Path(path).expanduser().absolute()
    folder = next(p for p in target.parents if p.exists())
    problem = ("is a directory" if target.is_dir() else
               f"cannot be written: {folder} is not a directory" if not folder.is_dir() else
               f"cannot be written: {folder} is not writable"
               if not os.access(folder, os.W_OK | os.X_OK)
               or (target.exists() and not os.access(target, os.W_OK)) else None)
    if problem:
        raise CLIError(f"{flag} {path} {problem}; give a file path in a writable directory")


# ---------------------------------------------------------------------------------- train
def _resolve(args: argparse.Namespace) -> None:
    """Fill the per-model defaults and reject options the chosen model cannot honour."""
    model, kind = args.model, MODELS[args.model]
    if args.dataset is None:
        args.dataset = "breast_cancer" if kind.seed else "digits"
    if kind.seed:
        if args.dataset != "breast_cancer":
            raise CLIError(f"--model {model} is one of the seeds' binary networks and trains on "
                           f"--dataset breast_cancer only (got {args.dataset}); use --model mlp "
                           f"or --model multilayer for {args.dataset}")
        unsupported = [flag for flag, used in (
            ("--batchnorm", args.batchnorm), ("--dropout", args.dropout > 0),
            ("--early-stopping", args.early_stopping is not None),
            ("--optimizer", args.optimizer not in (None, "sgd")),
            ("--activation", args.activation is not None
             and ACTIVATIONS[args.activation] is not ACTIVATIONS["sigmoid"]),
            ("--weight-init", args.weight_init != "auto"),
            ("--batch-size", args.batch_size is not None and kind.batch_size is None),
            ("--hidden", args.hidden is not None and (len(args.hidden) != 1
                                                      or model == "single")),
        ) if used]
        if unsupported:
            raise CLIError(f"--model {model} does not support {', '.join(unsupported)} (the "
                           f"seeds' networks: sigmoid units, plain gradient descent, one hidden "
                           f"layer); use --model multilayer or --model mlp")
        args.optimizer, args.activation = "sgd", "sigmoid"
    else:
        args.optimizer = args.optimizer or "adam"
        args.activation = args.activation or "relu"
        args.hidden = (100,) if args.hidden is None else tuple(args.hidden)
    if args.filters is not None and model != "cnn":
        raise CLIError(f"--filters applies to --model cnn only (got --model {model}); use "
                       f"--hidden for the widths of dense layers")
    args.filters = (16, 32) if args.filters is None else tuple(args.filters)
    if args.epochs is None:
        args.epochs = kind.epochs
    if args.batch_size is None:
        args.batch_size = kind.batch_size


def _load_split(args: argparse.Namespace, scale: bool = True) -> Any:
    """The dataset's split, its features scaled as the dataset scales them unless ``scale``
    is false; --train-size is not applied yet (see :func:`_first_rows`)."""
    idx_files = args.dataset in datasets.IDX_DATASETS
    if not idx_files and (args.data_dir or args.download):
        raise CLIError(f"--data-dir and --download apply to mnist and fashion_mnist only; "
                       f"{args.dataset} ships with scikit-learn")
    extra = {"path": args.data_dir, "download": args.download} if idx_files else {}
    try:
        return datasets.load_dataset(args.dataset, dtype=args.dtype, scale=scale, **extra)
    except FileNotFoundError as err:
        raise CLIError(f"{err} On the command line: --data-dir DIR or --download.") from None
    except (ValueError, EOFError, zlib.error) as err:  # a damaged or truncated IDX file
        if not idx_files:
            raise
        where = datasets.installed(args.dataset, args.data_dir) or args.data_dir
        raise CLIError(f"--dataset {args.dataset}: damaged data files in {where} ({err}); "
                       f"delete them and run again with --download (checked copies), or give "
                       f"--data-dir a directory with good copies") from None


def _first_rows(split: Any, n: int | None) -> Any:
    """``split`` with only its first ``n`` training rows (--train-size; None: all)."""
    return split if n is None else replace(split, x_train=split.x_train[:n],
                                           y_train=split.y_train[:n])


def _scaled_split(args: argparse.Namespace) -> tuple[Any, Any]:
    """The split to train on and the scaling of its features, as a fitted StandardScaler of
    the raw features, to be saved with the model.

    Per feature the scaler is the affine map from the raw training rows to the rows as the
    dataset scales them (a feature constant in them is only shifted, as StandardScaler does),
    and the split returned is the raw one through the scaler: the model is trained and scored
    on exactly what the saved Pipeline gives it from raw features.
    """
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    raw, scaled = _load_split(args, scale=False), _load_split(args)
    r, s = raw.x_train, scaled.x_train
    scaler = StandardScaler().fit(r)
    spread = s.std(axis=0, dtype=np.float64)
    scale = np.divide(r.std(axis=0, dtype=np.float64), spread, out=np.ones_like(spread),
                      where=spread > 0)
    scaler.mean_ = r.mean(axis=0, dtype=np.float64) - scale * s.mean(axis=0, dtype=np.float64)
    scaler.scale_, scaler.var_ = scale, scale**2
    split = replace(raw, **{key: scaler.transform(getattr(raw, key))
                            for key in ("x_train", "x_val", "x_test")})
    return _first_rows(split, args.train_size), scaler


def _train(args: argparse.Namespace) -> int:
    """``xpnet train``: fit, report, save (with the scaling of the features), plot."""
    _resolve(args)
    backend = get_backend(args.backend, args.dtype, args.seed)  # fail before loading data
    split, scaler = _scaled_split(args)
    runner = (_fit_seed_model if MODELS[args.model].seed else
              _fit_mlp if args.model == "mlp" else _fit_network)
    start = time.perf_counter()
    result = _fit(runner, args, split)
    seconds = time.perf_counter() - start
    score = result["score"]
    print(f"xpnet train: model={args.model} dataset={args.dataset} backend={backend.spec} "
          f"epochs={result['epochs']} train_acc={score(split.x_train, split.y_train):.4f} "
          f"val_acc={score(split.x_val, split.y_val):.4f} "
          f"test_acc={score(split.x_test, split.y_test):.4f} time={seconds:.1f}s", flush=True)
    if args.save:  # before the plot: a plot that fails must not lose the model
        from sklearn.pipeline import Pipeline  # noqa: PLC0415

        from ..edges.io import save  # noqa: PLC0415

        Path(args.save).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
        saved = save(Pipeline([("scale", scaler), ("model", result["model"])]), args.save)
        if not args.quiet:
            print(f"saved: {saved}")
    if not args.no_plot:
        from ..edges.plot import plot_history  # noqa: PLC0415 - matplotlib only when plotting

        path = plot_history(result["history"], args.plot,
                            title=f"{args.model} on {args.dataset} ({backend.spec})")
        if not args.quiet:
            print(f"loss curve: {path}")
    return 0


def _fit(runner: Callable[[argparse.Namespace, Any], dict[str, Any]], args: argparse.Namespace,
         split: Any) -> dict[str, Any]:
    """``runner(args, split)`` with its warnings printed one line each; a fit its History
    says diverged raises DivergenceError (exit 1) instead of reporting accuracies."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = runner(args, split)
    messages = list(dict.fromkeys(_one_line(str(w.message)) for w in caught))
    if result["history"].diverged:
        reason = next((m for m in reversed(messages) if " diverged " in m),
                      "the loss or the weights became NaN/inf")
        raise DivergenceError(f"{reason}; nothing was saved (try a smaller --lr)")
    for message in messages:
        print(f"{PROG}: warning: {message}", file=sys.stderr)
    return result


def _optional(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given (None: leave the model's own default)."""
    return {key: value for key, value in values.items() if value is not None}


def _fit_mlp(args: argparse.Namespace, split: Any) -> dict[str, Any]:
    """--model mlp: xpnet.MLPClassifier."""
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415

    from ..edges.estimators import MLPClassifier  # noqa: PLC0415

    est = MLPClassifier(  # its activation= names are the layers' (ACTIVATIONS)
        hidden_layer_sizes=args.hidden, activation=args.activation, solver=args.optimizer,
        alpha=args.l2, l1=args.l1, max_iter=args.epochs, batchnorm=args.batchnorm,
        dropout=args.dropout, weight_init=args.weight_init, backend=args.backend,
        dtype=args.dtype, verbose=not args.quiet, random_state=args.seed,
        early_stopping=args.early_stopping is not None,
        **_optional(learning_rate_init=args.lr, batch_size=args.batch_size,
                    n_iter_no_change=args.early_stopping))
    with warnings.catch_warnings():
        # reaching max_iter is what --epochs asked for, not news
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        # the validation rows' curves go on the plot beside the training loss
        est.fit(split.x_train, split.y_train, validation_data=None if
                est.early_stopping else (split.x_val, split.y_val))
    return {"model": est, "history": est.history_, "epochs": int(est.n_iter_),
            "score": lambda x, y: float(est.score(x, y))}


def _fit_network(args: argparse.Namespace, split: Any) -> dict[str, Any]:
    """--model multilayer (MultiLayerNetExtend) or cnn (a Network of convolutions, see
    :func:`_cnn_layers`), trained by the Trainer."""
    from ..nn.network import MultiLayerNetExtend, Network  # noqa: PLC0415
    from ..nn.trainer import Trainer  # noqa: PLC0415

    init = auto_rule(args.activation) if args.weight_init == "auto" else args.weight_init
    n_classes = int(max(split.y_train.max(), split.y_val.max(), split.y_test.max())) + 1
    common = dict(weight_init_std=init, weight_decay_lambda=args.l2, l1=args.l1,
                  backend=args.backend, dtype=args.dtype, random_state=args.seed)
    if args.model == "cnn":
        net = Network([*_cnn_layers(args), ("dense", {"units": n_classes})],
                      _image_shape(args.dataset, split.x_train.shape[1]), **common)
    else:
        net = MultiLayerNetExtend(
            split.x_train.shape[1], list(args.hidden), n_classes, activation=args.activation,
            use_dropout=args.dropout > 0, dropout_ratio=args.dropout or 0.5,
            use_batchnorm=args.batchnorm, **common)
    trainer = Trainer(net, split.x_train, split.y_train, split.x_test, split.y_test,
                      epochs=args.epochs, mini_batch_size=args.batch_size,
                      optimizer=args.optimizer, optimizer_param=_optional(lr=args.lr),
                      verbose=not args.quiet, x_val=split.x_val,
                      t_val=split.y_val, patience=args.early_stopping)
    history = trainer.train()
    return {"model": net, "history": history, "epochs": trainer.current_epoch,
            "score": net.accuracy}


def _cnn_layers(args: argparse.Namespace) -> list[Any]:
    """--model cnn's layers before the output: per --filters count a 3x3 convolution (pad 1),
    BatchNorm, the activation and 2x2 max pooling; then per --hidden width a dense layer, the
    activation and (--dropout) dropout."""
    dropout = [("dropout", {"ratio": args.dropout})] if args.dropout > 0 else []
    return [*(spec for n in args.filters for spec in (
        ("conv", {"filter_num": n, "filter_size": 3, "pad": 1}), "batchnorm", args.activation,
        ("pool", {"pool_h": 2}))), "flatten",
        *(spec for n in args.hidden for spec in (("dense", {"units": n}), args.activation,
                                                 *dropout))]


def _image_shape(dataset: str, n_features: int) -> tuple[int, int, int]:
    """(1, side, side): the rows of ``dataset`` as square grayscale images."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise CLIError(f"--model cnn needs a dataset of square images, but the {n_features} "
                       f"features of {dataset} are not; use --dataset digits, mnist or "
                       f"fashion_mnist, or --model mlp")
    return (1, side, side)


def _fit_seed_model(args: argparse.Namespace, split: Any) -> dict[str, Any]:
    """--model dual / random-init / minibatch / single: the seeds' networks."""
    from ..nn import seed_models  # noqa: PLC0415

    cls = getattr(seed_models, MODELS[args.model].seed)
    model = cls(l1=args.l1, l2=args.l2, backend=args.backend, dtype=args.dtype,
                random_state=args.seed, **_optional(
                    learning_rate=args.lr, batch_size=args.batch_size,
                    units=None if args.hidden is None else args.hidden[0]))
    if not args.quiet:
        print(f"training {type(model).__name__} for {args.epochs} epochs ...", flush=True)
    model.fit(split.x_train, split.y_train, x_val=split.x_val, y_val=split.y_val,
              epochs=args.epochs)
    return {"model": model, "history": model.history, "epochs": len(model.losses),
            "score": model.score}


# --------------------------------------------------------------------------------- search
def _search(args: argparse.Namespace) -> int:
    """``xpnet search``: seed 003's random search (see the subcommand's description)."""
    from ..edges.estimators import MLPClassifier  # noqa: PLC0415
    from ..edges.search import log_uniform, random_search  # noqa: PLC0415

    get_backend(args.backend, args.dtype)  # fail before loading data
    split = _first_rows(_load_split(args), args.train_size)
    model = MLPClassifier(hidden_layer_sizes=tuple(args.hidden), solver=args.solver,
                          max_iter=args.epochs, batch_size=100, backend=args.backend,
                          dtype=args.dtype)
    space = {"learning_rate_init": log_uniform(*args.lr),
             "alpha": log_uniform(*args.weight_decay)}
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else (
        f"{args.n_jobs} local processes" if args.n_jobs != 1 else "this process")
    print(f"random search: {args.trials} trials x {args.epochs} epochs of MLPClassifier"
          f"{model.hidden_layer_sizes} ({args.solver}) on {args.dataset} ({len(split.x_train)} "
          f"train / {len(split.x_val)} validation rows), backend={args.backend!r}, "
          f"random_state={args.random_state}, in {where}", file=sys.stderr)
    result = random_search(model, space, split.x_train, split.y_train, n_trials=args.trials,
                           X_val=split.x_val, y_val=split.y_val, random_state=args.random_state,
                           n_jobs=args.n_jobs, client=args.scheduler, verbose=True,
                           epoch_scores=True)
    print("=========== Hyper-Parameter Optimization Result ===========")
    print(result.format_table(args.top))
    if result.n_failed:
        print(f"{result.n_failed} of {len(result)} trials failed (their errors are listed)")
    if args.plot:
        print(f"wrote {result.plot(args.plot, top=min(20, len(result)))}")
    return 0


# -------------------------------------------------------------------------------- predict
def _export(args: argparse.Namespace) -> int:
    """``xpnet export``: the saved model as an ONNX file."""
    from ..edges.io import load  # noqa: PLC0415
    from ..edges.onnx_export import export_onnx  # noqa: PLC0415

    print(f"wrote {export_onnx(load(args.model_file), args.onnx_path)}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    """``xpnet predict``: what the model predicts for each CSV row, one row a line."""
    from ..edges.io import load  # noqa: PLC0415

    model = load(args.model_file, backend=args.backend)
    x = np.loadtxt(args.input, delimiter=",", ndmin=2, dtype=np.float64)
    rows = _predictions(model, x, proba=args.proba).reshape(len(x), -1)
    for row in rows.astype(int) if rows.dtype == bool else rows:
        print(",".join(map(str, row)))
    return 0


def _predictions(model: Any, x: Any, proba: bool = False) -> Any:
    """What ``model`` (any model ``xpnet.load`` returns) predicts for the NumPy rows ``x``:
    class labels for classifiers, every output's value for regressors, class probabilities
    with ``proba``. A Pipeline's steps transform ``x`` before its last one; a network's
    scores become labels or probabilities by its output layer.

    Raises:
        CLIError: ``proba`` for a model without probabilities (a regressor).
    """
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    if isinstance(model, Pipeline):
        for _name, step in model.steps[:-1]:
            x = step.transform(x)
        model = model.steps[-1][1]
    if hasattr(model, "loss_name"):  # a network (NumPy in, NumPy out) predicts scores,
        # which its output layer reads as labels or probabilities
        read = model.last_layer.probabilities if proba else model.last_layer.labels
        predict = None if read is None else (lambda rows: read(model.predict(rows)))
    else:  # an estimator or a seed model
        predict = getattr(model, "predict_proba" if proba else "predict", None)
    if predict is None:
        raise CLIError(f"the model ({type(model).__name__}) is a regressor and has no "
                       f"probabilities; drop --proba")
    return np.asarray(predict(x))


# ------------------------------------------------------------------------------------ env
def _env(args: argparse.Namespace) -> int:
    """``xpnet env``: versions and which backends (and datasets) this machine has."""
    versions = machine.versions()
    print(f"xpnet             {versions['xpnet']}")
    print(f"python            {versions['python']} ({platform.python_implementation()}) "
          f"on {platform.platform()}")
    print(f"numpy             {versions['numpy']} ({machine.blas_summary()})")
    for dist in machine.DISTRIBUTIONS:
        if dist not in ("xpnet", "numpy") and (dist in versions or dist in (
                "array-api-compat", "torch")):
            print(f"{dist:<17} {versions.get(dist, 'not installed')}")
    print("backends:")
    for name in BACKENDS_TO_PROBE:
        try:
            backend = get_backend(name)
        except Exception as err:  # noqa: BLE001 - each failure is reported, none is fatal
            status = f"unavailable: {_one_line(str(err)) or type(err).__name__}"
        else:
            status = f"available (device {backend.device_name}; kernels: {backend.ops.describe()})"
        print(f"  {name:<17} {status}")
    print("datasets:")
    for name in datasets.DATASETS:
        if name not in datasets.IDX_DATASETS:
            status = "available (scikit-learn)"
        elif found := datasets.installed(name):
            status = f"found in {found}"
        else:
            status = (f"not found (set XPNET_DATA=<dir> with the files in "
                      f"<dir>/{datasets.data_dirs(name)[-1].name})")
        print(f"  {name:<17} {status}")
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m xpnet.tools.cli
    raise SystemExit(main())
