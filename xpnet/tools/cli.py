"""The ``xpnet`` command line: ``train``, ``bench``, ``search``, ``predict`` and ``env``.

``xpnet train`` with no options trains the default network (an MLP with one hidden layer of
100 units, Adam) on scikit-learn's digits for 30 epochs on the CPU, shows a progress bar,
prints one metrics line and writes the loss curve to ``xpnet-loss.png``.

Mistakes on the command line (an unknown dataset, a backend that cannot be had here, a learning
rate <= 0, missing data files) end with ONE line on stderr, ``xpnet: error: <message>``, and
exit status 2; set ``XPNET_DEBUG=1`` to see the full traceback instead.

This is a host-side edge module: it may import NumPy, and it imports the rest of xpnet lazily
so that ``xpnet --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

__all__ = ["main", "build_parser", "CLIError", "MODELS", "SEED_MODELS", "OPTIMIZERS"]

PROG = "xpnet"

#: ``--model`` choices; the last four are the seeds' binary networks (breast cancer only)
MODELS = ("mlp", "multilayer", "dual", "random-init", "minibatch", "single")
SEED_MODELS = ("dual", "random-init", "minibatch", "single")
#: ``--optimizer`` choices and the learning rate each uses when ``--lr`` is not given
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001}
SEED_LR = 0.1
ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
WEIGHT_INITS = ("auto", "he", "xavier", "lecun", "normal", "ones")
DATASETS = ("breast_cancer", "digits", "fashion_mnist", "mnist")
_DATASET_ALIASES = {"cancer": "breast_cancer", "breast-cancer": "breast_cancer",
                    "fashion-mnist": "fashion_mnist", "fashion": "fashion_mnist"}
#: epochs when ``--epochs`` is not given (the seeds' own numbers for their networks)
DEFAULT_EPOCHS = {"mlp": 30, "multilayer": 30, "dual": 2000, "random-init": 500,
                  "minibatch": 100, "single": 500}
BACKENDS_TO_PROBE = ("numpy", "array_api_strict", "torch", "torch:cuda", "cupy")

#: exceptions from xpnet that become one line on stderr (exit 2) instead of a traceback
_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, ImportError,
                                                  RuntimeError, OSError, ArithmeticError)

MAIN_EPILOG = """\
examples:
  xpnet train                                   MLP on digits, 30 epochs, CPU (a few seconds)
  xpnet train --dataset breast_cancer --model dual --epochs 20000 --l2 0.01
  xpnet train --model multilayer --hidden 100,100 --batchnorm --dropout 0.15
  xpnet train --dataset fashion_mnist --backend cupy --hidden 256,128 --save model.npz
  xpnet bench --help                            time one training run on each backend
  xpnet search --help                           random hyper-parameter search
  xpnet env                                     versions and the backends usable here

Set XPNET_DEBUG=1 to get a traceback instead of the one-line error messages.
"""

TRAIN_EPILOG = """\
models:
  mlp          xpnet.MLPClassifier (scikit-learn style), the default
  multilayer   MultiLayerNetExtend + Trainer (the book's chapter 6); --batchnorm, --dropout
  dual         DualLayer: one sigmoid hidden layer, ones-initialized (seed 001), full batch
  random-init  RandomInitNetwork: DualLayer with N(0, 1) initial weights, full batch
  minibatch    MinibatchNetwork: RandomInitNetwork trained on mini-batches (--batch-size)
  single       SingleLayer: logistic regression, full batch
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
    """A mistake on the command line, reported as one line ``xpnet: error: ...`` (exit 2)."""


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
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _nonnegative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r} (e.g. 0.15)")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 100 or 256,128, got {text!r}")
    return sizes


def _dataset(text: str) -> str:
    key = text.strip().lower()
    return _DATASET_ALIASES.get(key, key.replace("-", "_"))


def _weight_init(text: str) -> str | float:
    key = text.strip().lower()
    if key in WEIGHT_INITS or key in ("glorot", "kaiming", "relu", "sigmoid"):
        return {"glorot": "xavier", "kaiming": "he", "relu": "he", "sigmoid": "xavier"}.get(key,
                                                                                           key)
    try:
        value = float(key)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(WEIGHT_INITS)} or a standard deviation such as 0.01, "
            f"got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a standard deviation must be > 0, got {text!r}")
    return value


# ------------------------------------------------------------------------------- the parser
def build_parser(load: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``xpnet`` argument parser.

    Args:
        load: names of the subcommands whose options come from another module
            (``bench``, ``search``) to import now; None imports all of them. ``main`` loads
            only the one being run, so ``xpnet train`` never imports the others.
    """
    parser = _Parser(
        prog=PROG, formatter_class=_Formatter, epilog=MAIN_EPILOG,
        description=_wrap("xpnet: readable neural networks written once against the Python "
                          "Array API; the same code trains on NumPy, CuPy, PyTorch and "
                          "array_api_strict."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="_command", metavar="COMMAND", title="commands",
                                parser_class=_Parser)
    _add_train(sub)
    for name, summary in (("bench", "time training on each backend (CPU and GPU)"),
                          ("search", "random hyper-parameter search (joblib or Dask)")):
        _add_external(sub, name, summary, load is None or name in load)
    _add_predict(sub)
    env = sub.add_parser("env", help="versions, BLAS and the backends usable on this machine",
                         description=_wrap("Print the xpnet, Python, NumPy/BLAS and "
                                           "array-api-compat versions and which backends work "
                                           "on this machine."),
                         formatter_class=_Formatter)
    env.set_defaults(_handler=_env)
    return parser


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a network on a dataset and plot its loss curve",
        formatter_class=_Formatter, epilog=TRAIN_EPILOG,
        description=_wrap("Train a network, print one line of metrics (train/val/test "
                          "accuracy, time) and write the loss curve as a PNG. With no options: "
                          "an MLP with one hidden layer of 100 units, Adam, 30 epochs on "
                          "scikit-learn's digits, on the CPU."))
    p.set_defaults(_handler=_train)
    g = p.add_argument_group("what to train")
    g.add_argument("--model", choices=MODELS, default="mlp", help="network to train")
    g.add_argument("--dataset", type=_dataset, choices=DATASETS,
                   help="dataset, split into train / validation / test (default: digits; "
                        "breast_cancer for the seed models)")
    g.add_argument("--train-size", type=_positive_int, metavar="N",
                   help="use only the first N training samples (quick runs on MNIST)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="directory holding the MNIST / Fashion-MNIST IDX files")
    g.add_argument("--download", action="store_true",
                   help="download missing MNIST / Fashion-MNIST files (checked against their "
                        "published digests)")
    g.add_argument("--hidden", type=_hidden, metavar="SIZES",
                   help="hidden layer sizes, comma separated, e.g. 256,128 (default: 100; "
                        "the seed models take one size, default 10)")
    g.add_argument("--activation", choices=ACTIVATIONS,
                   help="hidden activation (default: relu; sigmoid for the seed models)")
    g.add_argument("--weight-init", type=_weight_init, default="auto", metavar="RULE",
                   help="initial weights: auto (he for relu, xavier otherwise), he, xavier, "
                        "lecun, normal, ones or a standard deviation such as 0.01")
    g = p.add_argument_group("how to train")
    g.add_argument("--epochs", type=_positive_int,
                   help="passes over the training data (default: 30 for mlp/multilayer; the "
                        "seeds' numbers for their networks: dual 2000, random-init 500, "
                        "minibatch 100, single 500)")
    g.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="mini-batch size (default: 32; dual, random-init and single train on "
                        "the full batch)")
    g.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="update rule (default: adam; the seed models use plain sgd)")
    g.add_argument("--lr", type=_positive_float, metavar="RATE",
                   help="learning rate (default: sgd 0.1, momentum/nesterov/adagrad 0.01, "
                        "rmsprop/adam 0.001; 0.1 for the seed models)")
    g.add_argument("--l2", type=_nonnegative_float, default=0.0, metavar="LAMBDA",
                   help="L2 penalty strength: weight_decay_lambda, l2 of the seed models, "
                        "scikit-learn's alpha for mlp")
    g.add_argument("--l1", type=_nonnegative_float, default=0.0, metavar="LAMBDA",
                   help="L1 penalty strength (scaled like --l2)")
    g.add_argument("--batchnorm", action="store_true",
                   help="batch normalization before each hidden activation (mlp, multilayer)")
    g.add_argument("--dropout", type=_fraction, default=0.0, metavar="RATIO",
                   help="inverted dropout ratio after each hidden activation (mlp, multilayer)")
    g.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement on validation data "
                        "and keep the best weights (multilayer: the validation split; mlp: "
                        "10%% of the training data held out, as scikit-learn does)")
    g.add_argument("--seed", type=int, default=0, help="random seed for weights and shuffling")
    g = p.add_argument_group("where it runs")
    g.add_argument("--backend", default="numpy", metavar="NAME",
                   help="numpy, torch, torch:cuda, cupy, array_api_strict, ... (any backend= "
                        "string xpnet accepts)")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="floating dtype of weights and activations")
    g = p.add_argument_group("output")
    g.add_argument("--plot", default="xpnet-loss.png", metavar="PATH",
                   help="where to write the loss-curve PNG")
    g.add_argument("--no-plot", action="store_true", help="do not write the loss curve")
    g.add_argument("--save", metavar="PATH", help="save the trained model (xpnet.io.save, .npz)")
    g.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar; print only the metrics line")


def _add_external(sub: Any, name: str, summary: str, load: bool) -> None:
    """A subcommand whose options and runner come from ``xpnet.<name>`` (imported lazily)."""
    p = sub.add_parser(name, help=summary, description=f"xpnet {name}: {summary}.",
                       formatter_class=_Formatter)
    if not load:
        return
    try:
        module = importlib.import_module(f"xpnet.{name}")
        module.add_arguments(p)
        runner = module.run_cli
    except (ImportError, AttributeError) as err:
        p.add_argument("_rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        reason = _one_line(str(err))

        def runner(args: argparse.Namespace) -> int:
            raise CLIError(f"'xpnet {name}' is not available in this installation: xpnet.{name} "
                           f"could not be loaded ({reason})")
    p.set_defaults(_handler=runner)


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict", help="predict with a saved model from a CSV of features",
        formatter_class=_Formatter,
        description=_wrap("Load a model saved by 'xpnet train --save' (or xpnet.io.save) and "
                          "print one prediction per row of a CSV file of features (no header, "
                          "comma separated, the model's feature columns in order)."))
    p.add_argument("--model-file", required=True, metavar="PATH", help="saved model (.npz)")
    p.add_argument("--input", required=True, metavar="CSV", help="features, one sample a row")
    p.add_argument("--backend", metavar="NAME",
                   help="run on this backend instead of the one recorded in the file")
    p.add_argument("--proba", action="store_true",
                   help="print class probabilities instead of labels (where the model has them)")
    p.set_defaults(_handler=_predict)


# --------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xpnet`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 for a mistake on the command line or an error
    reported by xpnet (printed as one line ``xpnet: error: ...`` on stderr), 130 on Ctrl-C.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(load=[command] if command else [])
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a parse error already printed
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "_handler", None)
    if handler is None:
        _print_error("missing command: choose one of train, bench, search, predict, env "
                     "(see 'xpnet --help')")
        return 2
    debug = os.environ.get("XPNET_DEBUG", "") not in ("", "0")
    try:
        return int(handler(args) or 0)
    except CLIError as err:
        _print_error(str(err))
        return 2
    except _USER_ERRORS as err:
        if debug:
            raise
        _print_error(str(err) or type(err).__name__)
        return 2
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------------- train
def _resolve(args: argparse.Namespace) -> None:
    """Fill the per-model defaults and reject options the chosen model cannot honour."""
    model = args.model
    seed_model = model in SEED_MODELS
    if args.dataset is None:
        args.dataset = "breast_cancer" if seed_model else "digits"
    if seed_model:
        if args.dataset != "breast_cancer":
            raise CLIError(f"--model {model} is one of the seeds' binary networks and trains on "
                           f"--dataset breast_cancer only (got {args.dataset}); use --model mlp "
                           f"or --model multilayer for {args.dataset}")
        unsupported = [flag for flag, used in (
            ("--batchnorm", args.batchnorm), ("--dropout", args.dropout > 0),
            ("--early-stopping", args.early_stopping is not None),
            ("--optimizer", args.optimizer not in (None, "sgd")),
            ("--activation", args.activation not in (None, "sigmoid")),
            ("--weight-init", args.weight_init != "auto"),
            ("--batch-size", args.batch_size is not None and model != "minibatch"),
            ("--hidden", args.hidden is not None and (len(args.hidden) != 1
                                                      or model == "single")),
        ) if used]
        if unsupported:
            raise CLIError(f"--model {model} does not support {', '.join(unsupported)} (the "
                           f"seeds' networks: sigmoid units, plain gradient descent, one hidden "
                           f"layer); use --model multilayer or --model mlp")
        args.optimizer, args.activation = "sgd", "sigmoid"
        args.units = 10 if args.hidden is None else args.hidden[0]
        if args.lr is None:
            args.lr = SEED_LR
    else:
        args.optimizer = args.optimizer or "adam"
        args.activation = args.activation or "relu"
        args.hidden = args.hidden or (100,)
        if args.lr is None:
            args.lr = DEFAULT_LR[args.optimizer]
    if args.epochs is None:
        args.epochs = DEFAULT_EPOCHS[model]
    if args.batch_size is None:
        args.batch_size = None if model in ("dual", "random-init", "single") else 32


def _load_split(args: argparse.Namespace) -> Any:
    from ..edges.datasets import Split, load_dataset  # noqa: PLC0415

    idx_files = args.dataset in ("mnist", "fashion_mnist")
    if not idx_files and (args.data_dir or args.download):
        raise CLIError(f"--data-dir and --download apply to mnist and fashion_mnist only; "
                       f"{args.dataset} ships with scikit-learn")
    extra = {"path": args.data_dir, "download": args.download} if idx_files else {}
    try:
        split = load_dataset(args.dataset, dtype=args.dtype, **extra)
    except FileNotFoundError as err:
        raise CLIError(f"{err} On the command line: --data-dir DIR or --download.") from None
    if args.train_size is not None and args.train_size < len(split.x_train):
        n = args.train_size
        split = Split(split.x_train[:n], split.y_train[:n], split.x_val, split.y_val,
                      split.x_test, split.y_test, split.feature_names, split.target_names)
    return split


def _train(args: argparse.Namespace) -> int:
    """``xpnet train``: fit, report, plot, save."""
    from ..backends import get_backend  # noqa: PLC0415

    _resolve(args)
    backend = get_backend(args.backend, args.dtype, args.seed)  # fail before loading data
    split = _load_split(args)
    runner = {"mlp": _fit_mlp, "multilayer": _fit_multilayer}.get(args.model, _fit_seed_model)
    start = time.perf_counter()
    result = runner(args, split)
    seconds = time.perf_counter() - start
    score = result["score"]
    print(f"xpnet train: model={args.model} dataset={args.dataset} backend={backend.spec} "
          f"epochs={result['epochs']} train_acc={score(split.x_train, split.y_train):.4f} "
          f"val_acc={score(split.x_val, split.y_val):.4f} "
          f"test_acc={score(split.x_test, split.y_test):.4f} time={seconds:.1f}s", flush=True)
    if not args.no_plot:
        from ..edges.plot import plot_history  # noqa: PLC0415

        path = plot_history(result["history"], args.plot,
                            title=f"{args.model} on {args.dataset} ({backend.spec})")
        if not args.quiet:
            print(f"loss curve: {path}")
    if args.save:
        from ..edges.io import save  # noqa: PLC0415

        saved = save(result["model"], args.save)
        if not args.quiet:
            print(f"saved: {saved}")
    return 0


_CURVES = ("loss", "val_loss", "train_acc", "val_acc", "test_acc", "val_score")


def _curves(history: Any) -> dict[str, list[float]]:
    """The plottable per-epoch curves of a history mapping (drops ``lr`` and duplicates)."""
    out = {k: list(history[k]) for k in _CURVES if k in history and len(history[k])}
    if "val_acc" in out:
        out.pop("val_score", None)
    return out


def _fit_mlp(args: argparse.Namespace, split: Any) -> dict[str, Any]:
    """--model mlp: xpnet.MLPClassifier."""
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415

    from ..edges.estimators import MLPClassifier  # noqa: PLC0415

    params: dict[str, Any] = dict(
        hidden_layer_sizes=args.hidden, activation=_estimator_activation(args.activation),
        solver=args.optimizer, alpha=args.l2, l1=args.l1, learning_rate_init=args.lr,
        max_iter=args.epochs, batchnorm=args.batchnorm, dropout=args.dropout,
        backend=args.backend, dtype=args.dtype, verbose=not args.quiet,
        random_state=args.seed)
    if args.batch_size is not None:
        params["batch_size"] = args.batch_size
    if args.weight_init != "auto":
        params["weight_init"] = args.weight_init
    if args.early_stopping is not None:
        params["early_stopping"] = True
        params["n_iter_no_change"] = args.early_stopping
    est = MLPClassifier(**params)
    with warnings.catch_warnings():
        # reaching max_iter is what --epochs asked for, not news
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        est.fit(split.x_train, split.y_train)
    return {"model": est, "history": _curves(est.history_), "epochs": int(est.n_iter_),
            "score": lambda x, y: float(est.score(x, y))}


def _estimator_activation(name: str) -> str:
    return {"sigmoid": "logistic"}.get(name, name)


def _fit_multilayer(args: argparse.Namespace, split: Any) -> dict[str, Any]:
    """--model multilayer: MultiLayerNetExtend trained by the Trainer."""
    from ..nn.network import MultiLayerNetExtend  # noqa: PLC0415
    from ..nn.trainer import Trainer  # noqa: PLC0415

    init = args.weight_init
    if init == "auto":
        init = "he" if args.activation == "relu" else "xavier"
    n_classes = int(max(split.y_train.max(), split.y_val.max(), split.y_test.max())) + 1
    net = MultiLayerNetExtend(
        split.x_train.shape[1], list(args.hidden), n_classes, activation=args.activation,
        weight_init_std=init, weight_decay_lambda=args.l2, l1=args.l1,
        use_dropout=args.dropout > 0, dropout_ratio=args.dropout or 0.5,
        use_batchnorm=args.batchnorm, backend=args.backend, dtype=args.dtype,
        random_state=args.seed)
    trainer = Trainer(net, split.x_train, split.y_train, split.x_test, split.y_test,
                      epochs=args.epochs, mini_batch_size=args.batch_size,
                      optimizer=args.optimizer, optimizer_param={"lr": args.lr},
                      verbose=not args.quiet, x_val=split.x_val,
                      t_val=split.y_val, patience=args.early_stopping)
    history = trainer.train()
    return {"model": net, "history": _curves(history), "epochs": trainer.current_epoch,
            "score": net.accuracy}


def _fit_seed_model(args: argparse.Namespace, split: Any) -> dict[str, Any]:
    """--model dual / random-init / minibatch / single: the seeds' networks."""
    from ..nn import seed_models  # noqa: PLC0415

    common = dict(learning_rate=args.lr, l1=args.l1, l2=args.l2, backend=args.backend,
                  dtype=args.dtype, random_state=args.seed)
    if args.model == "single":
        model = seed_models.SingleLayer(**common)
    elif args.model == "minibatch":
        model = seed_models.MinibatchNetwork(args.units, args.batch_size, **common)
    else:
        cls = seed_models.DualLayer if args.model == "dual" else seed_models.RandomInitNetwork
        model = cls(args.units, **common)
    if not args.quiet:
        print(f"training {type(model).__name__} for {args.epochs} epochs ...", flush=True)
    model.fit(split.x_train, split.y_train, x_val=split.x_val, y_val=split.y_val,
              epochs=args.epochs)
    history = {"loss": model.losses, "val_loss": model.val_losses}
    return {"model": model, "history": _curves(history), "epochs": len(model.losses),
            "score": model.score}


# -------------------------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    """``xpnet predict``: one prediction per CSV row, printed one per line."""
    import numpy as np  # noqa: PLC0415

    from ..edges.io import load  # noqa: PLC0415

    model = load(args.model_file, backend=args.backend)
    x = np.loadtxt(args.input, delimiter=",", ndmin=2, dtype=np.float64)
    if args.proba:
        if not hasattr(model, "predict_proba"):
            raise CLIError(f"the model in {args.model_file} ({type(model).__name__}) has no "
                           f"predict_proba; drop --proba")
        out = np.asarray(_host(model.predict_proba(x)))
        for row in out.reshape(len(x), -1):
            print(",".join(f"{v:.6g}" for v in row))
        return 0
    out = np.asarray(_host(model.predict(x)))
    if out.ndim == 2 and out.shape[1] > 1:  # scores (MultiLayerNetExtend): the argmax class
        out = out.argmax(axis=1)
    for value in out.reshape(len(x)):
        print(int(value) if isinstance(value, (bool, np.bool_)) else value)
    return 0


def _host(x: Any) -> Any:
    from ..backends import get_backend  # noqa: PLC0415

    return get_backend("numpy").to_numpy(x)


# ------------------------------------------------------------------------------------ env
def _version(dist: str = "xpnet") -> str:
    if dist == "xpnet":
        try:
            from .. import __version__  # noqa: PLC0415

            return __version__
        except ImportError:  # pragma: no cover
            pass
    try:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _blas() -> str:
    """The BLAS NumPy was built with, and its thread count, when cheap to find out."""
    import numpy as np  # noqa: PLC0415

    text = "unknown BLAS"
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"{info.get('name', '?')} {info.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy or an unusual build: not worth failing on
        pass
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            text += f", {pools[0].get('num_threads')} threads"
    except Exception:  # noqa: BLE001,S110
        pass
    return text


def _env(args: argparse.Namespace) -> int:
    """``xpnet env``: versions and which backends (and datasets) this machine has."""
    import numpy as np  # noqa: PLC0415

    from ..backends import get_backend  # noqa: PLC0415
    from ..edges.datasets import data_dirs  # noqa: PLC0415

    print(f"xpnet             {_version()}")
    print(f"python            {platform.python_version()} ({platform.python_implementation()}) "
          f"on {platform.platform()}")
    print(f"numpy             {np.__version__} ({_blas()})")
    for dist in ("array-api-compat", "array-api-strict", "torch", "cupy-cuda12x", "cupy-cuda13x",
                 "numba", "scikit-learn", "matplotlib", "tqdm", "joblib", "dask"):
        version = _version(dist)
        if version != "not installed" or dist in ("array-api-compat", "torch"):
            print(f"{dist:<17} {version}")
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
    print("  breast_cancer     available (scikit-learn)")
    print("  digits            available (scikit-learn)")
    for name, directory in (("mnist", "mnist"), ("fashion_mnist", "fashion-mnist")):
        found = [d for d in data_dirs(directory)
                 if any((d / f).is_file() for f in ("train-images-idx3-ubyte",
                                                     "train-images-idx3-ubyte.gz"))]
        status = (f"found in {found[0]}" if found else
                  "not found (set XPNET_DATA=<dir> with the files in <dir>/" + directory + ")")
        print(f"  {name:<17} {status}")
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m xpnet.cli
    raise SystemExit(main())
