# %% [markdown]
# # Do it! 딥러닝 입문, chapter 6: mini-batches, and scikit-learn's MLPClassifier
#
# Seeds 000 and 004 on the breast-cancer data:
#
# 1. `MinibatchNetwork` (one sigmoid hidden layer of 10 units, N(0, 1) initial weights, L2
#    penalty) with batch sizes 1 (stochastic gradient descent), 32, 128 and 350 (about the whole
#    training set: batch gradient descent);
# 2. scikit-learn's `MLPClassifier` with the seed's settings, next to `xpnet.MLPClassifier`
#    with the same arguments, which runs on any xpnet backend.
#
# Set `XPNET_SMOKE=1` in the environment for a run of a few seconds.

# %%
# %matplotlib inline
import os
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

import xpnet
from xpnet.datasets import load_breast_cancer_split

SMOKE = os.environ.get("XPNET_SMOKE") == "1"
data = load_breast_cancer_split()  # the seeds' split, standardized features
print(data)

# %%
BACKEND = "numpy"  # or "cupy" on a GPU, "torch"
backend = xpnet.get_backend(BACKEND)  # a missing library fails here, with the fix
print(f"xpnet {xpnet.__version__}, backend {BACKEND!r} on {backend.device_label()}"
      + (" (smoke mode: a few epochs only)" if SMOKE else ""))

# %% [markdown]
# ## 1. Mini-batch gradient descent
#
# Each epoch shuffles the training set and takes one gradient step per mini-batch, so a batch
# of 32 makes 12 steps per epoch over the 364 samples where batch gradient descent makes one.
# Smaller batches make more (and noisier) steps per epoch: the loss falls faster per epoch but
# jumps around; larger batches give a smoother curve that falls more slowly.
#
# The seed's `gen_batch` draws the permutation with NumPy's global generator; xpnet draws it
# from `random_state`, so each run is reproducible on every backend.

# %%
epochs = 5 if SMOKE else 100
batch_sizes = {"1 (stochastic)": 1, "32": 32, "128": 128, "350 (the whole set)": 350}
nets = {}
for label, batch_size in batch_sizes.items():
    net = xpnet.MinibatchNetwork(l2=0.01, batch_size=batch_size, backend=BACKEND,
                                 random_state=42)
    start = time.perf_counter()
    net.fit(data.x_train, data.y_train, epochs=epochs, x_val=data.x_val, y_val=data.y_val)
    nets[label] = net
    print(f"batch_size={batch_size:>3}: validation accuracy "
          f"{net.score(data.x_val, data.y_val):.4f}, {time.perf_counter() - start:.2f} s "
          f"for {epochs} epochs")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for label, net in nets.items():
    left.plot(net.losses, label=f"batch size {label}")
    right.plot(net.val_losses, label=f"batch size {label}")
left.set(xlabel="epoch", ylabel="logistic loss + L2 penalty", title="training loss")
right.set(xlabel="epoch", title="validation loss")
left.legend()
fig.suptitle("MinibatchNetwork(l2=0.01) on breast cancer")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 500 epochs with batches of 32 and 128 (seed 004)
#
# The seed reports 0.978 validation accuracy for both; 128 gives the smoother curve.

# %%
long_epochs = 10 if SMOKE else 500
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, batch_size in zip(axes, (32, 128), strict=True):
    net = xpnet.MinibatchNetwork(l2=0.01, batch_size=batch_size, backend=BACKEND,
                                 random_state=42)
    net.fit(data.x_train, data.y_train, epochs=long_epochs, x_val=data.x_val, y_val=data.y_val)
    print(f"batch_size={batch_size}: validation accuracy "
          f"{net.score(data.x_val, data.y_val):.4f} (the seed: 0.978)")
    ax.plot(net.losses, label="training loss")
    ax.plot(net.val_losses, label="validation loss")
    ax.set(xlabel="epoch", title=f"batch_size={batch_size}", ylim=(0, 0.7))
    ax.legend()
axes[0].set_ylabel("logistic loss + L2 penalty")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. scikit-learn's MLPClassifier, and xpnet's
#
# The seed's model: `MLPClassifier(hidden_layer_sizes=(10,), activation='logistic',
# solver='sgd', alpha=0.01, batch_size=32, learning_rate_init=0.1, max_iter=1000)`, 0.989
# validation accuracy in the seed. `xpnet.MLPClassifier` takes the same arguments (and works in
# scikit-learn's `Pipeline` and `GridSearchCV`), plus `backend=`.
#
# One difference to know: scikit-learn's `"sgd"` adds Nesterov momentum 0.9 by default, while
# xpnet's `"sgd"` is plain gradient descent; xpnet's `solver="nesterov"` is scikit-learn's
# default rule. Both stop when the loss stops improving (`tol`, `n_iter_no_change`).

# %%
settings = dict(hidden_layer_sizes=(10,), activation="logistic", solver="sgd", alpha=0.01,
                batch_size=32, learning_rate_init=0.1, max_iter=15 if SMOKE else 1000,
                random_state=42)
models = {
    "scikit-learn, sgd (+ Nesterov 0.9)": SklearnMLPClassifier(**settings),
    "xpnet, sgd": xpnet.MLPClassifier(**settings, backend=BACKEND),
    "xpnet, nesterov": xpnet.MLPClassifier(**dict(settings, solver="nesterov"),
                                           backend=BACKEND),
}
for name, model in models.items():
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached in smoke mode
        model.fit(data.x_train, data.y_train)
    print(f"{name:<36} validation accuracy {model.score(data.x_val, data.y_val):.4f}, "
          f"{model.n_iter_:>4} epochs in {time.perf_counter() - start:.2f} s")
print("(the seed: scikit-learn 0.989)")

fig, ax = plt.subplots(figsize=(7, 4))
for name, model in models.items():
    ax.plot(range(1, len(model.loss_curve_) + 1), model.loss_curve_, label=name)
ax.set(xscale="log", xlabel="epoch (log scale)", ylabel="training loss (log loss + L2 penalty)",
       ylim=(0, 0.7),
       title="MLPClassifier((10,), logistic, alpha=0.01, batch 32, lr 0.1)")
ax.legend()
plt.show()

# %% [markdown]
# Both libraries keep the per-epoch training loss in `loss_curve_`; xpnet's estimators hold
# every curve in one `history_` (here only the loss: no validation split was asked for;
# `early_stopping=True` adds `val_score`).

# %%
xp_model = models["xpnet, nesterov"]
print({name: len(curve) for name, curve in xp_model.history_.items()})
print(f"test accuracy: scikit-learn "
      f"{models['scikit-learn, sgd (+ Nesterov 0.9)'].score(data.x_test, data.y_test):.4f}, "
      f"xpnet nesterov {xp_model.score(data.x_test, data.y_test):.4f}")
