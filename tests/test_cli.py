"""The ``xpnet`` command line.

A few runs go through a real process (``python -m xpnet``): the default ``xpnet train``, the help
pages and one error of each kind, to check exit codes, files and that stderr holds one line and
no traceback. Everything else calls :func:`xpnet.cli.main` in process (same code path, without
paying ~2 s of interpreter start and imports per case).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xpnet.backend import get_backend
from xpnet.cli import main

METRICS = re.compile(
    r"^xpnet train: model=(?P<model>\S+) dataset=(?P<dataset>\S+) backend=(?P<backend>\S+) "
    r"epochs=(?P<epochs>\d+) train_acc=(?P<train_acc>[\d.]+) val_acc=(?P<val_acc>[\d.]+) "
    r"test_acc=(?P<test_acc>[\d.]+) time=(?P<time>[\d.]+)s$", re.MULTILINE)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("XPNET_DEBUG", None)
    # tiny problems: BLAS threads only add contention on a shared CI machine
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", **extra)
    return env


def run_xpnet(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xpnet", *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=300)


def _metrics(stdout: str) -> dict[str, str]:
    match = METRICS.search(stdout)
    assert match, f"no metrics line in:\n{stdout}"
    return match.groupdict()


def _assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_MAGIC


def _assert_one_line_error(stderr: str, needle: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("xpnet: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in stderr


def _io():
    return pytest.importorskip("xpnet.io", reason="xpnet.io (save/load) is not in this tree yet")


def _unavailable(name: str) -> bool:
    try:
        get_backend(name)
    except ImportError:
        return True
    return False


# --------------------------------------------------------------------- real processes
def test_train_with_no_options(tmp_path):
    """The README's main job: `xpnet train` alone trains the MLP on digits and plots it."""
    proc = run_xpnet("train", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = _metrics(proc.stdout)
    assert (m["model"], m["dataset"], m["backend"], m["epochs"]) == ("mlp", "digits", "numpy",
                                                                       "30")
    assert float(m["test_acc"]) > 0.9 and float(m["train_acc"]) > 0.9
    assert "Traceback" not in proc.stderr
    assert "30/30" in proc.stderr  # the tqdm progress bar ran to the end
    _assert_png(tmp_path / "xpnet-loss.png")


CUPY_WORKS = not _unavailable("cupy")


@pytest.mark.parametrize("args, needle", [
    # one of each kind: refused by argparse, by xpnet, by the CLI's own checks
    pytest.param(["--epochs", "0"], "--epochs", id="zero-epochs"),
    pytest.param(["--backend", "no_such_backend" if CUPY_WORKS else "cupy"],
                 "no_such_backend" if CUPY_WORKS else "cupy", id="unavailable-backend"),
    pytest.param(["--model", "dual", "--dataset", "digits"], "breast_cancer",
                 id="seed-model-with-digits"),
])
def test_bad_arguments_in_a_process(tmp_path, args, needle):
    proc = run_xpnet("train", *args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    _assert_one_line_error(proc.stderr, needle)
    assert proc.stdout == ""
    assert not list(tmp_path.iterdir())


def test_help_in_a_process(tmp_path):
    proc = run_xpnet("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: xpnet")
    for command in ("train", "bench", "search", "predict", "env"):
        assert f"    {command} " in proc.stdout
    assert "examples:" in proc.stdout and proc.stderr == ""


# ------------------------------------------------------------------------- in process
@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny matrices: BLAS threads only add contention on a shared 2-core CI machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield

@pytest.mark.parametrize("args, expected", [
    (["--model", "multilayer", "--dataset", "digits", "--epochs", "5", "--hidden", "32,16",
      "--batchnorm", "--dropout", "0.1", "--optimizer", "momentum", "--early-stopping", "3"],
     ("multilayer", "digits")),
    (["--model", "dual", "--epochs", "300", "--l2", "0.01"], ("dual", "breast_cancer")),
    (["--model", "minibatch", "--epochs", "20", "--batch-size", "64", "--hidden", "8"],
     ("minibatch", "breast_cancer")),
    (["--model", "mlp", "--dataset", "breast_cancer", "--epochs", "5", "--hidden", "16,8",
      "--activation", "tanh", "--optimizer", "rmsprop", "--l1", "0.001"],
     ("mlp", "breast_cancer")),
])
def test_train_models(tmp_path, capsys, args, expected):
    plot = tmp_path / "out" / "curve.png"
    assert main(["train", *args, "--quiet", "--plot", str(plot)]) == 0
    out, err = capsys.readouterr()
    m = _metrics(out)
    assert (m["model"], m["dataset"]) == expected
    assert out.strip().splitlines() == [METRICS.search(out).group(0)]  # --quiet: one line
    for key in ("train_acc", "val_acc", "test_acc"):
        assert 0.5 < float(m[key]) <= 1.0, m
    assert err == ""  # --quiet: no progress bar
    _assert_png(plot)


def test_train_on_each_backend(backend_name, tmp_path, capsys):
    code = main(["train", "--model", "multilayer", "--dataset", "breast_cancer", "--epochs",
                 "3", "--hidden", "8", "--batchnorm", "--dropout", "0.1", "--quiet",
                 "--plot", str(tmp_path / "c.png"), "--backend", backend_name])
    out, err = capsys.readouterr()
    assert code == 0, err
    m = _metrics(out)
    assert m["backend"] == get_backend(backend_name).spec
    assert 0.5 < float(m["test_acc"]) <= 1.0
    _assert_png(tmp_path / "c.png")


def _pipelines_save(tmp_path: Path) -> bool:
    """Whether xpnet.save writes a Pipeline of a scaler and a model (what `train --save`
    writes: the scaling of the features with the model)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from xpnet.seed_models import SingleLayer

    x, y = np.eye(4, 3), np.array([0, 1, 0, 1])
    pipe = Pipeline([("scale", StandardScaler().fit(x)),
                     ("model", SingleLayer().fit(x, y, epochs=1))])
    try:
        _io().save(pipe, tmp_path / "probe.npz")
    except TypeError:
        return False
    return True


def _raw_accuracy(model, x, y) -> float:
    """The accuracy of a loaded model on raw features (a Pipeline: its scaler first)."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        x, model = model[:-1].transform(x), model[-1]
    return (getattr(model, "accuracy", None) or model.score)(x, y)


@pytest.mark.parametrize("model", ["multilayer", "mlp", "random-init"])
def test_train_save_round_trip(tmp_path, capsys, model):
    load = _io().load
    from xpnet.datasets import load_dataset

    if not _pipelines_save(tmp_path):
        pytest.skip("xpnet.save cannot write a Pipeline (the scaler with the model) yet")
    dataset = "breast_cancer" if model == "random-init" else "digits"
    path = tmp_path / "model.npz"
    assert main(["train", "--model", model, "--dataset", dataset, "--epochs", "3", "--no-plot",
                 "--seed", "3", "--save", str(path)]) == 0
    out = capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))
    assert f"saved: {path}" in out
    restored = load(path)
    split = load_dataset(dataset, scale=False)  # the file holds the scaling: raw features
    assert _raw_accuracy(restored, split.x_test, split.y_test) == pytest.approx(
        float(_metrics(out)["test_acc"]), abs=6e-5)


BAD_ARGUMENTS = [
    pytest.param(["--dataset", "no_such_set"], "no_such_set", id="unknown-dataset"),
    pytest.param(["--backend", "no_such_backend"], "no_such_backend", id="unknown-backend"),
    pytest.param(["--backend", "cupy"], "cupy", id="cupy-without-gpu",
                 marks=pytest.mark.skipif(CUPY_WORKS, reason="CuPy works here")),
    pytest.param(["--lr", "-1"], "--lr", id="negative-lr"),
    pytest.param(["--epochs", "0"], "--epochs", id="zero-epochs"),
    pytest.param(["--model", "random-init", "--dataset", "digits"], "breast_cancer",
                 id="seed-model-with-digits"),
    pytest.param(["--optimizer", "lbfgs"], "lbfgs", id="unknown-optimizer"),
    pytest.param(["--lr", "0"], "--lr", id="zero-lr"),
    pytest.param(["--lr", "nan"], "--lr", id="nan-lr"),
    pytest.param(["--epochs", "2.5"], "--epochs", id="fractional-epochs"),
    pytest.param(["--hidden", "10,0"], "--hidden", id="bad-hidden"),
    pytest.param(["--dropout", "1.5"], "--dropout", id="bad-dropout"),
    pytest.param(["--l2", "-0.1"], "--l2", id="negative-l2"),
    pytest.param(["--dtype", "float16"], "float16", id="bad-dtype"),
    pytest.param(["--model", "single", "--optimizer", "adam"], "--optimizer",
                 id="seed-model-with-adam"),
    pytest.param(["--model", "dual", "--batchnorm"], "--batchnorm", id="seed-model-batchnorm"),
    pytest.param(["--dataset", "digits", "--data-dir", "x"], "--data-dir",
                 id="data-dir-for-sklearn-set"),
    pytest.param(["--backend", "torch:cuda"], "torch", id="torch-cuda-without-gpu",
                 marks=pytest.mark.skipif(not _unavailable("torch:cuda"),
                                          reason="torch:cuda works here")),
    pytest.param(["--backend", "numpy:cuda"], "numpy", id="numpy-on-gpu"),
    pytest.param(["--dataset", "mnist", "--data-dir", "{tmp}/empty"], "--data-dir",
                 id="missing-dataset-files",
                 marks=pytest.mark.skipif(Path("/usr/share/datasets/mnist").exists(),
                                          reason="MNIST is installed system-wide here")),
]


@pytest.mark.parametrize("args, needle", BAD_ARGUMENTS)
def test_bad_arguments_one_line_exit_2(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.setenv("XPNET_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XPNET_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["train", *args]) == 2
    out, err = capsys.readouterr()
    _assert_one_line_error(err, needle)
    assert out == ""
    assert not list(tmp_path.glob("*.png"))


def test_debug_env_raises_instead(monkeypatch, capsys):
    monkeypatch.setenv("XPNET_DEBUG", "1")
    with pytest.raises(ValueError, match="no_such_backend"):
        main(["train", "--backend", "no_such_backend"])


def test_main_returns_codes(capsys):
    assert main([]) == 2
    _assert_one_line_error(capsys.readouterr().err, "missing command")
    assert main(["frobnicate"]) == 2
    _assert_one_line_error(capsys.readouterr().err, "frobnicate")
    assert main(["--version"]) == 0
    assert re.search(r"^xpnet \d+\.\d+", capsys.readouterr().out)


@pytest.mark.parametrize("command", ["train", "bench", "search", "env", "predict"])
def test_subcommand_help(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: xpnet {command}")
    if command == "train":
        for option in ("--model", "--dataset", "--backend", "--optimizer", "--lr", "--hidden",
                       "--batchnorm", "--dropout", "--early-stopping", "--save", "--plot"):
            assert option in out
        assert "(default: digits" in out and "examples:" in out
    if command == "search":
        for option in ("--dataset", "--train-size", "--trials", "--epochs", "--hidden",
                       "--solver", "--lr", "--weight-decay", "--top", "--n-jobs", "--scheduler",
                       "--plot", "--random-state", "--backend"):
            assert option in out


def test_bench_subcommand_takes_the_bench_modules_options(capsys):
    module = pytest.importorskip("xpnet.bench")
    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    import argparse

    reference = argparse.ArgumentParser(prog="xpnet bench")
    module.add_arguments(reference)
    for action in reference._actions:
        for option in action.option_strings:
            assert option in out


def test_env(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    for needle in ("xpnet", "python", "numpy", "array-api-compat", "backends:"):
        assert needle in out
    rows = dict(re.findall(r"^  (\S+)\s+(available|unavailable)", out, re.MULTILINE))
    assert set(rows) >= {"numpy", "array_api_strict", "torch", "torch:cuda", "cupy"}
    assert rows["numpy"] == "available"
    assert rows["cupy"] == ("unavailable" if _unavailable("cupy") else "available")


def test_predict_from_saved_model(tmp_path, capsys):
    save = _io().save
    from xpnet.datasets import load_breast_cancer_split
    from xpnet.seed_models import SingleLayer

    split = load_breast_cancer_split()
    model = SingleLayer(random_state=0).fit(split.x_train, split.y_train, epochs=50)
    path = tmp_path / "single.npz"
    save(model, path)
    np.savetxt(tmp_path / "x.csv", split.x_test[:7], delimiter=",")
    assert main(["predict", "--model-file", str(path), "--input", str(tmp_path / "x.csv")]) == 0
    got = capsys.readouterr().out.split()
    assert got == [str(int(v)) for v in model.predict(split.x_test[:7]).ravel()]
    assert main(["predict", "--model-file", str(tmp_path / "missing.npz"), "--input",
                 str(tmp_path / "x.csv")]) == 2
    _assert_one_line_error(capsys.readouterr().err, "missing.npz")


def _spy_on(monkeypatch, module, name: str, record: list):
    """Replace ``module.name`` (a class) by a subclass that records every instance it builds."""
    real = getattr(module, name)

    class Spy(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            record.append((args, kwargs, self))

    monkeypatch.setattr(module, name, Spy)
    return real


def test_weight_init_names_mean_what_the_library_says(monkeypatch, capsys):
    """`--weight-init sigmoid` is the library's "sigmoid" rule (LeCun), not Glorot as the
    command line's own copy of the names once made it."""
    from xpnet.nn import network
    from xpnet.nn.init import init_scale

    built: list = []
    real = _spy_on(monkeypatch, network, "MultiLayerNetExtend", built)
    assert main(["train", "--model", "multilayer", "--dataset", "breast_cancer", "--epochs",
                 "1", "--hidden", "8", "--weight-init", "sigmoid", "--no-plot", "--quiet"]) == 0
    ((args, kwargs, _net),) = built
    assert kwargs["weight_init_std"] == "sigmoid"  # the name, straight to the library
    host = get_backend("numpy").to_numpy
    as_given, lecun = (real(*args, **{**kwargs, "weight_init_std": rule})
                       for rule in ("sigmoid", "lecun"))
    np.testing.assert_array_equal(host(as_given.params["W1"]), host(lecun.params["W1"]))
    assert init_scale("sigmoid", 30, 8) == init_scale("lecun", 30, 8) != \
        init_scale("glorot", 30, 8)
    # a name the library does not know is refused with the option's name, before any work
    assert main(["train", "--weight-init", "uniformish"]) == 2
    _assert_one_line_error(capsys.readouterr().err, "--weight-init")


def test_default_learning_rate_is_the_optimizers(monkeypatch, capsys):
    """Without --lr each model keeps its own default (here: RMSprop's class default)."""
    from xpnet.nn import trainer
    from xpnet.nn.optimizers import OPTIMIZERS

    built: list = []
    _spy_on(monkeypatch, trainer, "Trainer", built)
    assert main(["train", "--model", "multilayer", "--optimizer", "rmsprop", "--dataset",
                 "breast_cancer", "--epochs", "1", "--hidden", "4", "--no-plot", "--quiet"]) == 0
    ((_args, _kwargs, t),) = built
    assert t.optimizer.lr == OPTIMIZERS["rmsprop"]().lr


# --------------------------------------------------------------------------------- search
def test_search_defaults():
    from xpnet.tools.cli import build_parser

    args = build_parser().parse_args(["search"])
    assert (args.dataset, args.trials, args.epochs, args.top, args.n_jobs) == (
        "digits", 20, 50, 10, 1)
    assert args.scheduler is None and args.plot is None and args.backend == "numpy"
    assert tuple(args.lr) == (1e-6, 1e-2) and tuple(args.weight_decay) == (1e-8, 1e-4)


def test_search_prints_the_table_and_writes_the_plot(tmp_path, capsys):
    path = tmp_path / "grid.png"
    assert main(["search", "--trials", "3", "--epochs", "2", "--top", "2", "--hidden", "8",
                 "--lr", "1e-2", "1e-1", "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Best-1 " in out and "Best-2 " in out and "Best-3 " not in out
    assert "learning_rate_init=" in out and "alpha=" in out
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert main(["search", "--hidden", "8,x"]) == 2
    _assert_one_line_error(capsys.readouterr().err, "--hidden")


def test_xpnet_search_command(capsys):
    code = main(["search", "--trials", "1", "--epochs", "1", "--hidden", "4", "--top", "1"])
    assert code == 0 and "Best-1 " in capsys.readouterr().out
    assert main(["search", "--dataset", "no-such-set", "--trials", "1"]) == 2
    assert "no-such-set" in capsys.readouterr().err
