# %% [markdown]
# # Deep Learning from Scratch, chapter 6: techniques for training
#
# The chapter's experiments (seeds 002 and 003) with xpnet's `MultiLayerNet`,
# `MultiLayerNetExtend`, `Trainer` and optimizers, which keep the book's names and meanings:
#
# 1. how SGD, Momentum, AdaGrad and Adam move on a simple function, then on real data;
# 2. the initial weights: the activations they give, and how training goes;
# 3. batch normalization at 16 initial weight scales;
# 4. overfitting on 300 samples, and two cures: weight decay and dropout;
# 5. a random search for the learning rate and the weight decay, on validation data.
#
# The data: Fashion-MNIST (the first 5000 training and 2000 test images) when it is installed
# (Debian's `dataset-fashion-mnist` package, or files in `$XPNET_DATA` / `~/.xpnet/datasets`;
# nothing is downloaded), otherwise scikit-learn's bundled 8x8 digits. A full run takes a few
# minutes on a CPU (most of it in the random search). Set `XPNET_SMOKE=1` for a run of a few
# seconds: few epochs and trials, always on digits.

# %%
# %matplotlib inline
import dataclasses
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import xpnet
from xpnet.datasets import installed, load_dataset
from xpnet.search import log_uniform, random_search

SMOKE = os.environ.get("XPNET_SMOKE") == "1"

# %%
BACKEND = "numpy"  # or "cupy" on a GPU, "torch"
backend = xpnet.get_backend(BACKEND)  # a missing library fails here, with the fix
print(f"xpnet {xpnet.__version__}, backend {BACKEND!r} on {backend.device_label()}"
      + (" (smoke mode: a few epochs only)" if SMOKE else ""))

# %%
if installed("fashion_mnist") and not SMOKE:
    DATASET = "Fashion-MNIST"
    data = load_dataset("fashion_mnist", n_train=5000)  # 4500 training, 500 validation rows
    # the first 2000 of the 10000 test images: accuracies every epoch, in seconds
    data = dataclasses.replace(data, x_test=data.x_test[:2000], y_test=data.y_test[:2000])
else:
    DATASET = "digits"
    data = load_dataset("digits")
    if not SMOKE:
        print("Fashion-MNIST is not installed: using scikit-learn's digits instead")
n_features, n_classes = data.x_train.shape[1], len(data.target_names)
print(DATASET, data)


def smooth(values, width=10):
    """A moving average, as the book smooths its per-iteration losses."""
    values = np.asarray(values, dtype=float)
    width = max(1, min(width, len(values)))
    return np.convolve(values, np.ones(width) / width, mode="valid")


def train(hidden, epochs, *, x=None, y=None, optimizer="sgd", lr=0.01, batch_size=100,
          net_class=xpnet.MultiLayerNetExtend, test=True, **net_options):
    """The book's recipe: a ReLU network trained by its Trainer on (x, y), its accuracy on
    the training set (and with ``test`` on the test set) recorded every epoch. Returns the
    Trainer (train_loss_list per iteration, train_acc_list and test_acc_list per epoch)."""
    x = data.x_train if x is None else x
    y = data.y_train if y is None else y
    net = net_class(n_features, hidden, n_classes, backend=BACKEND, random_state=0,
                    **net_options)
    x_test, y_test = (data.x_test, data.y_test) if test else (None, None)
    trainer = xpnet.Trainer(net, x, y, x_test, y_test, epochs=epochs,
                            mini_batch_size=batch_size, optimizer=optimizer,
                            optimizer_param={"lr": lr}, verbose=False)
    trainer.train()
    return trainer


# %% [markdown]
# ## 1. Optimizers
#
# ### On f(x, y) = x²/20 + y²
#
# The book's first picture: a bowl that is 20 times flatter along x than along y, minimum at
# the origin, starting at (-7, 2). xpnet's optimizers have the book's `update(params, grads)`
# and work on plain NumPy arrays, so the book's loop runs as it is. SGD zig-zags across the
# steep direction; Momentum rolls like a ball; AdaGrad's steps shrink along y; Adam combines both.

# %%
def f(x, y):
    return x**2 / 20.0 + y**2


steps = 30
optimizers = {"SGD": xpnet.SGD(lr=0.95), "Momentum": xpnet.Momentum(lr=0.1),
              "AdaGrad": xpnet.AdaGrad(lr=1.5), "Adam": xpnet.Adam(lr=0.3)}
xs, ys = np.meshgrid(np.linspace(-10, 10, 201), np.linspace(-5, 5, 101))
fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), sharey=True)
for ax, (name, optimizer) in zip(axes, optimizers.items(), strict=True):
    params = {"x": np.array([-7.0]), "y": np.array([2.0])}
    path = [(params["x"][0], params["y"][0])]
    for _ in range(steps):
        optimizer.update(params, {"x": params["x"] / 10.0, "y": 2.0 * params["y"]})
        path.append((params["x"][0], params["y"][0]))
    path = np.array(path)
    ax.contour(xs, ys, f(xs, ys), levels=np.linspace(0.5, 25, 8), colors="0.75")
    ax.plot(path[:, 0], path[:, 1], "o-", color="tab:red", markersize=3, label="path")
    ax.plot(0, 0, "+", color="black", markersize=12, label="minimum")
    ax.set(xlim=(-10, 10), ylim=(-5, 5), xlabel="x", title=f"{name} ({steps} steps)")
axes[0].set_ylabel("y")
axes[0].legend(loc="lower right")
plt.show()

# %% [markdown]
# ### On the data
#
# A network of four hidden ReLU layers of 100 units, mini-batches of 128, the book's learning
# rates (0.01; 0.001 for Adam and RMSprop). `train_loss_list` holds the loss of every
# iteration, as the book's Trainer does.

# %%
epochs = 2 if SMOKE else 30
x_small, y_small = (data.x_train[:300], data.y_train[:300]) if SMOKE else (None, None)
losses = {}
for name, lr in (("sgd", 0.01), ("momentum", 0.01), ("adagrad", 0.01), ("adam", 0.001),
                 ("rmsprop", 0.001)):
    start = time.perf_counter()
    trainer = train([100] * 4, epochs, x=x_small, y=y_small, optimizer=name, lr=lr,
                    batch_size=128, net_class=xpnet.MultiLayerNet)
    losses[f"{name} (lr={lr})"] = trainer.train_loss_list
    print(f"{name:<9} test accuracy {trainer.test_acc_list[-1]:.3f} "
          f"({time.perf_counter() - start:.1f} s)")

fig, ax = plt.subplots(figsize=(7, 4))
for name, curve in losses.items():
    ax.plot(smooth(curve), label=name)
ax.set(xlabel="iteration (mini-batch of 128)", ylabel="training loss (moving average)",
       title=f"optimizers, 4 x 100 ReLU network ({DATASET})")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. The initial weights
#
# ### What the activations look like
#
# Five layers of 100 sigmoid units fed 1000 random inputs: with standard deviation 1 the
# activations pile up at 0 and 1 (where the sigmoid's gradient vanishes); with 0.01 they all
# sit near 0.5 (every unit says the same thing); with Xavier's sqrt(1/n) they stay spread out.
# The book's names keep its meanings in xpnet: `weight_init_std="xavier"` (or `"sigmoid"`) is
# sqrt(1/fan_in), `"he"` (or `"relu"`) is sqrt(2/fan_in).

# %%
rng = np.random.default_rng(0)
inputs = rng.standard_normal((1000, 100))
rules = {"std 1": lambda n: 1.0, "std 0.01": lambda n: 0.01, "Xavier sqrt(1/n)": lambda n:
         np.sqrt(1.0 / n)}
fig, axes = plt.subplots(len(rules), 5, figsize=(14, 6.5), sharey="row")
for row, (rule, std) in zip(axes, rules.items(), strict=True):
    a = inputs
    for layer, ax in enumerate(row, start=1):
        a = 1.0 / (1.0 + np.exp(-(a @ (rng.standard_normal((100, 100)) * std(100)))))
        ax.hist(a.ravel(), bins=30, range=(0, 1), histtype="stepfilled")
        ax.set(title=f"{rule}: layer {layer}", xlabel="activation")
    row[0].set_ylabel("count")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### How training goes
#
# The same 4 x 100 ReLU network trained by SGD (lr 0.01) from three initial scales: 0.01 barely
# moves (the signal shrinks layer after layer), Xavier trains, He (made for ReLU) trains fastest.

# %%
losses = {}
for label, std in (("std=0.01", 0.01), ("Xavier", "xavier"), ("He", "he")):
    trainer = train([100] * 4, epochs, x=x_small, y=y_small, optimizer="sgd", lr=0.01,
                    batch_size=128, net_class=xpnet.MultiLayerNet, weight_init_std=std)
    losses[label] = trainer.train_loss_list
    print(f"{label:<9} final training loss {trainer.train_loss_list[-1]:.3f}, "
          f"test accuracy {trainer.test_acc_list[-1]:.3f}")

fig, ax = plt.subplots(figsize=(7, 4))
for label, curve in losses.items():
    ax.plot(smooth(curve), label=label)
ax.set(xlabel="iteration (mini-batch of 128)", ylabel="training loss (moving average)",
       title=f"initial weights, 4 x 100 ReLU network, SGD ({DATASET})")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Batch normalization
#
# Each hidden layer's pre-activations are normalized over the mini-batch (mean 0, variance 1),
# then scaled and shifted by learned γ and β. In evaluation mode the layer uses running
# averages of the batch statistics (xpnet's are right from the first step: the book's code
# updates the running variance from the batch mean, and starts it at 1).
#
# The book's experiment: a 5 x 100 ReLU network on 1000 training samples, SGD lr 0.01, batches
# of 100, for 16 initial weight scales from 1 down to 0.0001, with and without BatchNorm.
# Without it, small scales leave the signal vanishing and the largest may diverge; with it,
# the network learns at almost every scale.

# %%
bn_epochs = 2 if SMOKE else 20
scales = np.logspace(0, -4, num=4 if SMOKE else 16)
n_bn = 300 if SMOKE else 1000
runs = []  # per scale: {label: (training accuracy per epoch, diverged?)}
start = time.perf_counter()
for scale in scales:
    pair = {}
    for label, batchnorm in (("BatchNorm", True), ("no BatchNorm", False)):
        with warnings.catch_warnings():
            # a diverged run warns and stops early; it is marked in the figure instead
            warnings.simplefilter("ignore", RuntimeWarning)
            trainer = train([100] * 5, bn_epochs, x=data.x_train[:n_bn], y=data.y_train[:n_bn],
                            test=False, weight_init_std=float(scale), use_batchnorm=batchnorm)
        pair[label] = (trainer.train_acc_list, trainer.history.diverged)
    runs.append(pair)
n_diverged = sum(diverged for pair in runs for _, diverged in pair.values())
print(f"{2 * len(scales)} networks x {bn_epochs} epochs in {time.perf_counter() - start:.1f} s"
      f" ({n_diverged} diverged and stopped early)")

ncols = 4
nrows = -(-len(scales) // ncols)
fig, axes = plt.subplots(nrows, ncols, figsize=(14, 2.6 * nrows + 0.6), sharex=True,
                         sharey=True, squeeze=False)
for ax, scale, pair in zip(axes.flat, scales, runs, strict=False):
    for label, (acc, diverged) in pair.items():
        line, = ax.plot(range(1, len(acc) + 1), acc, "-" if label == "BatchNorm" else "--",
                        label=label)
        if diverged:  # mark where it stopped instead of letting the curve vanish
            stop = (max(len(acc), 1), acc[-1] if acc else 0.0)
            ax.plot(*stop, "x", color=line.get_color(), markersize=9, clip_on=False)
            ax.annotate(f"{label}: diverged", stop, xytext=(6, 10), textcoords="offset points",
                        color=line.get_color())
    ax.set(title=f"initial weight std {scale:.2g}", ylim=(0, 1), xlim=(0.5, bn_epochs + 0.5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
for ax in axes[-1]:
    ax.set_xlabel("epoch")
for ax in axes[:, 0]:
    ax.set_ylabel("training accuracy")
axes[0, 0].legend(loc="upper left")
fig.suptitle(f"training accuracy with and without BatchNorm ({DATASET}, {n_bn} samples)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Overfitting, weight decay and dropout
#
# The book provokes overfitting on purpose: only 300 training samples and a deep network
# (6 x 100 ReLU), trained long. The training accuracy reaches 1 while the test accuracy
# stays far below. Two cures, each on the same set-up:
#
# - weight decay (`weight_decay_lambda=0.1`): the loss adds λ/2·ΣW², so large weights cost;
# - dropout (`use_dropout=True, dropout_ratio=0.2`): each training step silences a random 20 %
#   of the hidden units (inverted dropout, scaled so that evaluation needs no change).

# %%
over_epochs = 5 if SMOKE else 200
n_over = 300
setups = {"no regularization": {}, "weight decay 0.1": {"weight_decay_lambda": 0.1},
          "dropout 0.2": {"use_dropout": True, "dropout_ratio": 0.2}}
fig, axes = plt.subplots(1, len(setups), figsize=(15, 3.8), sharey=True)
for ax, (label, options) in zip(axes, setups.items(), strict=True):
    trainer = train([100] * 6, over_epochs, x=data.x_train[:n_over], y=data.y_train[:n_over],
                    **options)
    epochs_axis = range(1, len(trainer.train_acc_list) + 1)
    ax.plot(epochs_axis, trainer.train_acc_list, label="training set")
    ax.plot(epochs_axis, trainer.test_acc_list, label="test set")
    ax.set(xlabel="epoch", title=label, ylim=(0, 1.02))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right")
    gap = trainer.train_acc_list[-1] - trainer.test_acc_list[-1]
    print(f"{label:<18} train {trainer.train_acc_list[-1]:.3f}, "
          f"test {trainer.test_acc_list[-1]:.3f} (gap {gap:.3f})")
axes[0].set_ylabel("accuracy")
fig.suptitle(f"6 x 100 ReLU network on {n_over} samples ({DATASET})")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Hyper-parameter search
#
# Hyper-parameters are tuned on **validation** data, never on the test set (which would then
# no longer measure generalization). The book's recipe: draw the learning rate from
# 10^uniform(-6, -2) and the weight decay from 10^uniform(-8, -4), train each trial briefly on a
# small training set, and narrow the ranges around the best trials.
#
# `xpnet.random_search` draws the trials (scikit-learn's `ParameterSampler`, so the same
# `random_state` gives the same trials), holds out `validation_fraction` of the rows, calls the
# trial function with each trial's parameters and keeps every trial's curves. `n_jobs=` runs
# trials in local processes and `client=` on a Dask cluster, with the same results.

# %%
def trial(params, random_state, X_train, y_train, X_val, y_val, epochs):
    """The book's __train(lr, weight_decay): a 6 x 100 MultiLayerNet trained by SGD."""
    network = xpnet.MultiLayerNet(X_train.shape[1], [100] * 6, n_classes,
                                  weight_decay_lambda=params["weight_decay"], backend=BACKEND,
                                  random_state=random_state)
    # the book passes the validation data where the test data goes; here it is named as such
    trainer = xpnet.Trainer(network, X_train, y_train, x_val=X_val, t_val=y_val, epochs=epochs,
                            mini_batch_size=100, optimizer="sgd",
                            optimizer_param={"lr": params["lr"]}, verbose=False)
    return trainer.train()  # a History: per-epoch loss, train_acc, val_acc, ...


n_trials, trial_epochs = (4, 3) if SMOKE else (100, 50)
space = {"lr": log_uniform(1e-6, 1e-2), "weight_decay": log_uniform(1e-8, 1e-4)}
start = time.perf_counter()
result = random_search(trial, space, data.x_train[:500], data.y_train[:500], n_trials=n_trials,
                       validation_fraction=0.2, random_state=0, verbose=False,
                       fit_params={"epochs": trial_epochs}, score_name="val acc")
print(f"{n_trials} trials x {trial_epochs} epochs in {time.perf_counter() - start:.1f} s")
print(result.format_table(10))

# %%
lrs = np.array([p["lr"] for p in result.params])
decays = np.array([p["weight_decay"] for p in result.params])
scores = np.array(result.scores, dtype=float)
top = result.top(min(6, len(result)))

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
points = left.scatter(lrs, decays, c=scores, cmap="viridis", vmin=0, vmax=1, s=30)
left.set(xscale="log", yscale="log", xlim=(1e-6, 1e-2), ylim=(1e-8, 1e-4),
         xlabel="learning rate", ylabel="weight decay λ",
         title=f"{n_trials} trials: validation accuracy by hyper-parameters")
fig.colorbar(points, ax=left, label="validation accuracy")
for row in top:
    curves = result.curves[row["trial"]]
    line, = right.plot(range(1, len(curves["val_acc"]) + 1), curves["val_acc"],
                       label=f"#{row['rank']}: lr {row['params']['lr']:.1e}, "
                             f"λ {row['params']['weight_decay']:.1e}")
    right.plot(range(1, len(curves["train_acc"]) + 1), curves["train_acc"], "--",
               color=line.get_color())
right.set(xlabel="epoch", ylabel="accuracy (solid: validation, dashed: training)", ylim=(0, 1),
          title=f"the best {len(top)} trials")
right.xaxis.set_major_locator(MaxNLocator(integer=True))
right.legend(fontsize="small", loc="upper left")
fig.tight_layout()
plt.show()

good = [row["params"] for row in result.top(max(1, len(result) // 10))]
print(f"the best {len(good)} trials: lr {min(p['lr'] for p in good):.1e}.."
      f"{max(p['lr'] for p in good):.1e}, weight decay "
      f"{min(p['weight_decay'] for p in good):.1e}..{max(p['weight_decay'] for p in good):.1e}"
      ": narrow the ranges there and search again")
