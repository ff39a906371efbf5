"""A command line that never lies (issue 13, class 4).

``predict`` prints what the model predicts (labels, every output of a regressor, probabilities);
``train --save`` writes the scaling of the features with the model, so ``predict`` takes raw
rows; output paths are checked before training and the model is saved before the plot; damaged
datasets, Ctrl-C, closed pipes, divergence and unexpected errors end with one line and their
exit status (2, 130, 141, 1), never a traceback.
"""

from __future__ import annotations

import functools
import gzip
import os
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_cli import _assert_one_line_error, _env, _metrics, _pipelines_save, run_xpnet

import xpnet
from xpnet.datasets import load_dataset
from xpnet.tools import cli
from xpnet.tools.cli import main


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("XPNET_DEBUG", raising=False)


@pytest.fixture
def pipelines(tmp_path):
    if not _pipelines_save(tmp_path):
        pytest.skip("xpnet.save cannot write a Pipeline (the scaler with the model) yet")


def _rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


def _predict_in_process(tmp_path, capsys, model, x, *extra: str) -> tuple[int, str, str]:
    xpnet.save(model, tmp_path / "m.npz")
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    code = main(["predict", "--model-file", str(tmp_path / "m.npz"), "--input",
                 str(tmp_path / "x.csv"), *extra])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------ predict
@functools.cache
def _models():
    """(id, model fitted or built, rows, what predict must print, --proba's rows or None)."""
    from scipy.special import expit, softmax
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)) * 10 + 5
    y2 = np.column_stack([x[:, 0] - x[:, 1], 0.5 * x[:, 2]])
    reg = xpnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(x, y2)
    reg1 = xpnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(
        x, y2[:, 0])
    labels = np.array(["ant", "bee", "cat"])[np.arange(12) % 3]
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(
        x, labels)
    net = xpnet.MultiLayerNetExtend(4, [8], 3, random_state=0)
    net_reg = xpnet.MultiLayerNet(4, [8], 2, loss="mse", random_state=0)
    net_bin = xpnet.MultiLayerNet(4, [8], 1, loss="binary_cross_entropy", random_state=0)
    seed = xpnet.SingleLayer(random_state=0).fit(x, (x[:, 0] > 5).astype(int), epochs=5)
    scaled = StandardScaler().fit(x)
    pipe_reg = Pipeline([("scale", scaled), ("model", xpnet.MLPRegressor(
        hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(scaled.transform(x), y2))])
    minmax = MinMaxScaler().fit(x)
    pipe_net = Pipeline([("scale", minmax), ("model", net)])
    scores = net.predict(x)
    return [
        ("regressor-2-outputs", reg, x, reg.predict(x), None),
        ("regressor-1-output", reg1, x, reg1.predict(x)[:, None], None),
        ("classifier-string-labels", clf, x, clf.predict(x)[:, None], clf.predict_proba(x)),
        ("network-classifier", net, x, scores.argmax(axis=1)[:, None], softmax(scores, axis=1)),
        ("network-regressor", net_reg, x, net_reg.predict(x), None),
        ("network-binary", net_bin, x, (net_bin.predict(x) > 0).astype(int),
         expit(net_bin.predict(x))),
        ("seed-model", seed, x, seed.predict(x).astype(int), seed.predict_proba(x)),
        ("pipeline-regressor", pipe_reg, x, pipe_reg.predict(x), None),
        ("pipeline-network", pipe_net, x, net.predict(minmax.transform(x)).argmax(1)[:, None],
         softmax(net.predict(minmax.transform(x)), axis=1)),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", range(9))
def test_predict_prints_what_each_kind_of_model_predicts(tmp_path, capsys, pipelines, case):
    name, model, x, expected, proba = _models()[case]
    code, out, err = _predict_in_process(tmp_path, capsys, model, x)
    assert code == 0, err
    got = _rows(out)
    assert np.shape(got) == np.shape(expected), (name, out)
    if np.asarray(expected).dtype.kind == "f":  # values, never argmax indices
        np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=1e-6)
    else:
        assert got == np.asarray(expected).astype(str).tolist(), name
    code, out, err = _predict_in_process(tmp_path, capsys, model, x, "--proba")
    if proba is None:  # a regressor has no probabilities: one line, exit 2
        assert code == 2 and out == ""
        _assert_one_line_error(err, "--proba")
    else:
        assert code == 0, err
        np.testing.assert_allclose(np.asarray(_rows(out), dtype=float), proba, rtol=1e-5,
                                   atol=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_predict_two_output_regressor_in_a_process(tmp_path):
    """The probe's case: a regressor with two outputs printed argmax indices (0 0 0)."""
    x = np.linspace(-1, 1, 40).reshape(10, 4)
    reg = xpnet.MLPRegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(
        x, np.column_stack([x.sum(1), x[:, 0] * 3]))
    xpnet.save(reg, tmp_path / "reg.npz")
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    proc = run_xpnet("predict", "--model-file", "reg.npz", "--input", "x.csv", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    np.testing.assert_allclose(np.asarray(_rows(proc.stdout), dtype=float), reg.predict(x),
                               rtol=1e-6)


# ---------------------------------------------------------------- train --save: the scaler
def test_train_saves_the_scaler_so_predict_takes_raw_rows(tmp_path, pipelines):
    """breast_cancer is standardized: the saved file predicts raw rows as well as the model
    scored on the scaled split (the probe's model predicted every raw row as 0)."""
    proc = run_xpnet("train", "--dataset", "breast_cancer", "--epochs", "10", "--no-plot",
                     "--quiet", "--save", "bc.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    test_acc = float(_metrics(proc.stdout)["test_acc"])
    raw = load_dataset("breast_cancer", scale=False)
    assert np.abs(raw.x_test).max() > 100  # raw features, far from standardized
    np.savetxt(tmp_path / "raw.csv", raw.x_test, delimiter=",")
    proc = run_xpnet("predict", "--model-file", "bc.npz", "--input", "raw.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pred = np.asarray(proc.stdout.split(), dtype=np.int64)
    assert len(set(pred)) == 2 and test_acc > 0.9
    assert np.mean(pred == raw.y_test) == pytest.approx(test_acc, abs=6e-5)


@pytest.mark.parametrize("dataset", ["breast_cancer", "digits"])
def test_the_split_trained_on_is_the_datasets_scaling(monkeypatch, dataset):
    """The saved scaler reproduces the dataset's own scaling (standardized; pixels / 16)."""
    args = cli.build_parser().parse_args(["train", "--dataset", dataset])
    split, scaler = cli._scaled_split(args)
    reference = load_dataset(dataset)
    for key in ("x_train", "x_val", "x_test"):
        np.testing.assert_allclose(getattr(split, key), getattr(reference, key), atol=2e-6)
    np.testing.assert_allclose(scaler.transform(load_dataset(dataset, scale=False).x_test),
                               reference.x_test, atol=2e-6)


# ----------------------------------------------------------------------- output paths
@pytest.mark.parametrize("command, option", [
    (["train"], "--save"), (["train"], "--plot"), (["search"], "--plot"),
    (["bench"], "--json"), (["bench"], "--plot")])
def test_output_paths_are_checked_before_any_work(tmp_path, capsys, command, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for bad, needle in ((blocker / "out.x", "not a directory"), (tmp_path, "is a directory")):
        assert main([*command, option, str(bad)]) == 2
        out, err = capsys.readouterr()
        _assert_one_line_error(err, option)
        assert needle in err and out == ""  # nothing trained, nothing printed


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_unwritable_directory_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["train", "--save", str(locked / "m.npz")]) == 2
    _assert_one_line_error(capsys.readouterr().err, "not writable")


def test_bad_plot_path_in_a_process_trains_nothing(tmp_path):
    (tmp_path / "f").write_text("x")
    proc = run_xpnet("train", "--plot", "f/curve.png", "--save", "m.npz", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    _assert_one_line_error(proc.stderr, "--plot f/curve.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_model_is_saved_before_the_plot(tmp_path, capsys, monkeypatch, pipelines):
    from xpnet.edges import plot

    def broken(*_args, **_kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(plot, "plot_history", broken)
    path = tmp_path / "new" / "dir" / "m.npz"  # missing folders are created
    assert main(["train", "--model", "dual", "--epochs", "5", "--quiet", "--save", str(path),
                 "--plot", str(tmp_path / "c.png")]) == 2
    _assert_one_line_error(capsys.readouterr().err, "No space left")
    assert xpnet.load(path)[-1].__class__.__name__ == "DualLayer"


# ----------------------------------------------------------------------- damaged data
def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">4B", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def _fake_mnist(directory: Path) -> None:
    rng = np.random.default_rng(0)
    directory.mkdir()
    for stem, n in (("train", 30), ("t10k", 10)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28))),
                            ("labels-idx1", np.arange(n) % 10)):
            with gzip.open(directory / f"{stem}-{kind}-ubyte.gz", "wb") as f:
                f.write(_idx(array))


@pytest.mark.parametrize("damage", ["zeroed", "flipped", "truncated", "not-gzip", "wrong-size"])
def test_damaged_dataset_is_one_line(tmp_path, capsys, damage):
    data = tmp_path / "mnist"
    _fake_mnist(data)
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "1",
                 "--no-plot", "--quiet"]) == 0  # the intact files train
    capsys.readouterr()
    target = data / "train-images-idx3-ubyte.gz"
    good = target.read_bytes()
    middle = len(good) // 2
    target.write_bytes({
        "zeroed": good[:20] + bytes(len(good) - 20),  # zlib.error from the deflate stream
        "flipped": good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1:],
        "truncated": good[:middle], "not-gzip": b"hello" * 20,
        "wrong-size": gzip.compress(_idx(np.zeros((30, 28, 28)))[:-5]),
    }[damage])
    assert main(["train", "--dataset", "mnist", "--data-dir", str(data), "--no-plot"]) == 2
    out, err = capsys.readouterr()
    _assert_one_line_error(err, "--dataset mnist: damaged data files")
    assert "--download" in err and out == ""


# --------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_in_process_is_one_line_130(capsys, monkeypatch):
    def interrupt(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_scaled_split", interrupt)
    assert main(["train"]) == 130
    assert capsys.readouterr().err.strip() == "xpnet: interrupted"
    monkeypatch.setattr(cli, "build_parser", interrupt)  # the very start of main
    assert main(["env"]) == 130
    monkeypatch.setenv("XPNET_DEBUG", "1")
    with pytest.raises(KeyboardInterrupt):
        main(["env"])


#: a child as a terminal starts it, with SIGINT at Python's default handler: a test runner
#: started in the background (``cmd &`` in a script, nohup) hands its children SIGINT
#: ignored, and Python then never raises KeyboardInterrupt, whatever the CLI does
_SIGINT_AS_IN_A_TERMINAL = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)"

#: the console script, with SIGINT sent to itself when ``sys.argv[1]`` is reached: the first
#: import of a module ("xpnet.edges.estimators"), or a call ("module:attribute")
_INTERRUPTED_AT = _SIGINT_AS_IN_A_TERMINAL + textwrap.dedent("""
    import importlib, importlib.abc, os, signal, sys
    where = sys.argv.pop(1)
    interrupt = lambda: os.kill(os.getpid(), signal.SIGINT)
    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == where:
                interrupt()
    if ":" in where:
        module, attribute = where.split(":")
        owner = importlib.import_module(module)
        *parents, name = attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        real = getattr(owner, name)
        setattr(owner, name, lambda *args, **kwargs: (interrupt(), real(*args, **kwargs))[1])
    else:
        sys.meta_path.insert(0, Hook())
    from xpnet.__main__ import main  # what the console script and python -m xpnet run
    sys.exit(main())
""")


@pytest.mark.parametrize("where", [
    pytest.param("xpnet.edges.estimators", id="importing-xpnet"),
    pytest.param("xpnet.tools.cli:build_parser", id="starting"),
    pytest.param("xpnet.edges.datasets:load_dataset", id="loading-data"),
    pytest.param("xpnet.nn.trainer:Trainer.train", id="training"),
    pytest.param("xpnet.edges.io:save", id="saving"),
    pytest.param("xpnet.edges.plot:plot_history", id="plotting"),
])
def test_sigint_at_any_point_is_one_line_130(tmp_path, where):
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_AT, where, "train", "--model", "multilayer",
         "--epochs", "2", "--hidden", "4", "--save", "m.npz"], cwd=tmp_path, env=_env(),
        capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "xpnet: interrupted"


def test_sigint_while_training_in_a_process(tmp_path):
    # ``python -m xpnet``, with SIGINT as in a terminal
    run_module = "; import runpy; runpy.run_module('xpnet', run_name='__main__', alter_sys=True)"
    proc = subprocess.Popen([sys.executable, "-c", _SIGINT_AS_IN_A_TERMINAL + run_module,
                             "train", "--model", "dual", "--epochs", "100000000", "--save",
                             "m.npz"], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert "training DualLayer" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "xpnet: interrupted"
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------------- closed pipes
def test_closed_pipe_is_quiet(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "xpnet", "env"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.communicate(timeout=120)[1]
    assert err == b"" and proc.returncode == 128 + signal.SIGPIPE
    shell = subprocess.run(f"{sys.executable} -m xpnet env | head -2", shell=True, cwd=tmp_path,
                           env=_env(), capture_output=True, text=True, timeout=120)
    assert shell.stderr == "" and len(shell.stdout.splitlines()) == 2


# ------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("args", [
    ["--optimizer", "sgd", "--lr", "1e30", "--epochs", "3", "--hidden", "8"],
    ["--model", "multilayer", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "2"],
    ["--model", "dual", "--lr", "1e30", "--epochs", "5"],
])
def test_divergence_is_not_reported_as_a_result(tmp_path, capsys, args):
    assert main(["train", *args, "--save", str(tmp_path / "m.npz"), "--plot",
                 str(tmp_path / "c.png"), "--quiet"]) == 1
    out, err = capsys.readouterr()
    _assert_one_line_error(err, "diverged")
    assert "--lr" in err and out == "" and not list(tmp_path.iterdir())


def test_divergence_in_a_process(tmp_path):
    proc = run_xpnet("train", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "2",
                     cwd=tmp_path)
    assert proc.returncode == 1 and "test_acc" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("xpnet:")]
    assert len(lines) == 1 and "diverged" in lines[0] and "Traceback" not in proc.stderr


# -------------------------------------------------------------------- unexpected errors
def test_unexpected_error_is_one_line_exit_1(capsys, monkeypatch):
    def bug(_args):
        raise KeyError("oops")

    monkeypatch.setattr(cli, "_env", bug)
    assert main(["env"]) == 1
    _assert_one_line_error(capsys.readouterr().err, "unexpected KeyError")
    monkeypatch.setenv("XPNET_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["env"])
