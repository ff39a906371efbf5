# %% [markdown]
# # Do it! 딥러닝 입문, chapter 5: from one layer to two
#
# The book's networks on the Wisconsin breast-cancer data (seed 001), with xpnet's classes in
# place of the hand-written NumPy ones:
#
# 1. `SingleLayer`: logistic regression trained by full-batch gradient descent;
# 2. `DualLayer`: one sigmoid hidden layer of 10 units, **every weight initialized to one**
#    (as in the book), with an L2 penalty;
# 3. `RandomInitNetwork`: the same network with N(0, 1) initial weights.
#
# The lesson of the chapter is the difference between 2 and 3: with equal initial weights every
# hidden unit computes the same thing and gets the same gradient, so the ten units stay copies
# of one another and training is slow (the seed reports 0.978 validation accuracy after 20000
# epochs); random weights break the symmetry and the loss falls smoothly in 500 epochs.
#
# Set `XPNET_SMOKE=1` in the environment for a run of a few seconds (few epochs; the numbers
# are then not the book's).

# %%
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import xpnet
from xpnet.datasets import load_breast_cancer_split

SMOKE = os.environ.get("XPNET_SMOKE") == "1"

# %%
BACKEND = "numpy"  # or "cupy" on a GPU, "torch"
backend = xpnet.get_backend(BACKEND)  # a missing library fails here, with the fix
print(f"xpnet {xpnet.__version__}, backend {BACKEND!r} on {backend.device_label()}"
      + (" (smoke mode: a few epochs only)" if SMOKE else ""))

# %% [markdown]
# ## The data
#
# The seed's split: 20 % of the 569 samples for the test set, then 20 % of the rest for
# validation (stratified, `random_state=42`), and the features standardized with the training
# set's mean and standard deviation (scikit-learn's `StandardScaler`).
# `load_breast_cancer_split` does exactly that and returns float32 NumPy arrays.

# %%
data = load_breast_cancer_split()
print(data)
print("malignant/benign in training:", np.bincount(data.y_train))

# %% [markdown]
# ## 1. SingleLayer: logistic regression
#
# One weight per feature, a sigmoid output and the logistic loss, trained on all 364 training
# samples at once each epoch. `losses` and `val_losses` hold one value per epoch.

# %%
single_epochs = 20 if SMOKE else 500
single = xpnet.SingleLayer(l2=0.01, backend=BACKEND)
single.fit(data.x_train, data.y_train, data.x_val, data.y_val, epochs=single_epochs)
print(f"SingleLayer, {single_epochs} epochs: validation accuracy "
      f"{single.score(data.x_val, data.y_val):.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(single.losses, label="training loss")
ax.plot(single.val_losses, label="validation loss")
ax.set(xlabel="epoch", ylabel="logistic loss", ylim=(0, 0.7),
       title=f"SingleLayer(l2=0.01), {single_epochs} epochs")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. DualLayer: a hidden layer, but every weight starts at one
#
# The book trains for 20000 epochs (a few seconds on a CPU: each epoch is one pass over 364
# samples). The penalty `l2=0.01` is divided by the number of samples like the loss.

# %%
dual_epochs = 300 if SMOKE else 20000
dual = xpnet.DualLayer(l2=0.01, backend=BACKEND)
start = time.perf_counter()
dual.fit(data.x_train, data.y_train, data.x_val, data.y_val, epochs=dual_epochs)
print(f"DualLayer (ones init), {dual_epochs} epochs in {time.perf_counter() - start:.1f} s: "
      f"validation accuracy {dual.score(data.x_val, data.y_val):.4f} (the seed: 0.978 after 20000)")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(dual.losses, label="training loss")
ax.plot(dual.val_losses, label="validation loss")
ax.set(xlabel="epoch", ylabel="logistic loss + L2 penalty", ylim=(0, 0.3),
       title=f"DualLayer(l2=0.01), ones init, {dual_epochs} epochs")
ax.legend()
plt.show()

# %% [markdown]
# Why so slow? Look at the first layer's weights: each of the 10 hidden units has one column
# of `w1`. Starting equal, they receive the same gradient at every step, so in exact arithmetic
# the columns would stay identical forever; only float32 rounding lets them drift apart, very
# slowly. Ten hidden units are doing the work of about one.

# %%
w1 = dual.backend.to_numpy(dual.get_params_arrays()["w1"])
spread = np.ptp(w1, axis=1)  # per input feature: largest minus smallest weight over the units
print(f"w1 has shape {w1.shape}; across the 10 hidden units, the weights of one input differ "
      f"by at most {spread.max():.1e} (their own size: up to {np.abs(w1).max():.2f})")

# %% [markdown]
# ## 3. RandomInitNetwork: the same network, random initial weights
#
# `init_weights` draws N(0, 1) weights (`np.random.seed(42)` in the seed, `random_state=42`
# here, which draws the same numbers on every backend).

# %%
random_epochs = 100 if SMOKE else 500
rand = xpnet.RandomInitNetwork(l2=0.01, backend=BACKEND, random_state=42)
rand.fit(data.x_train, data.y_train, data.x_val, data.y_val, epochs=random_epochs)
print(f"RandomInitNetwork, {random_epochs} epochs: validation accuracy "
      f"{rand.score(data.x_val, data.y_val):.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(rand.losses, label="training loss")
ax.plot(rand.val_losses, label="validation loss")
ax.set(xlabel="epoch", ylabel="logistic loss + L2 penalty", ylim=(0, 0.7),
       title=f"RandomInitNetwork(l2=0.01), N(0, 1) init, {random_epochs} epochs")
ax.legend()
plt.show()

# %% [markdown]
# ## Side by side
#
# The first epochs of both networks on the same axes, and the three models' accuracies on the
# test set, which none of them has seen (the validation set guided nothing here, so both are
# fair estimates).

# %%
first = min(random_epochs, dual_epochs)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(dual.losses[:first], label="DualLayer (ones init)")
ax.plot(rand.losses[:first], label="RandomInitNetwork (N(0, 1) init)")
ax.set(xlabel="epoch", ylabel="training loss", ylim=(0, 0.7),
       title=f"the first {first} epochs")
ax.legend()
plt.show()

for name, model in (("SingleLayer", single), ("DualLayer", dual), ("RandomInitNetwork", rand)):
    print(f"{name:<18} test accuracy {model.score(data.x_test, data.y_test):.4f}")
