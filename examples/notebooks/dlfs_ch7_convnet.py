# %% [markdown]
# # Deep Learning from Scratch, chapter 7: convolutional networks
#
# The chapter's layers, written once against the Array API (`xpnet.nn.conv`):
#
# 1. `Convolution` by im2col: every window of the images becomes a row, so a convolution is one
#    matrix product (im2col is written with slices and `stack`, since the standard has no
#    `as_strided`; NumPy and PyTorch bring their own convolution behind the same layer);
# 2. the book's `SimpleConvNet` (conv 30x5x5 - ReLU - max pool - affine 100 - ReLU - affine 10),
#    trained by the same `Trainer` as chapter 6's networks;
# 3. `xpnet.Network`, which composes the same layers into other architectures, here
#    conv-BatchNorm-ReLU-pool twice, then dense layers;
# 4. the first layer's filters before and after training (the book's figure 7-24).
#
# Fashion-MNIST when it is installed (Debian's `dataset-fashion-mnist`), else scikit-learn's
# 8x8 digits; set `XPNET_SMOKE=1` in the environment for a run of a few seconds.

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np

import xpnet
from xpnet.datasets import installed, load_dataset
from xpnet.nn.conv import im2col

SMOKE = os.environ.get("XPNET_SMOKE") == "1"
name = "fashion_mnist" if installed("fashion_mnist") and not SMOKE else "digits"
data = load_dataset(name, dtype="float32")
side = int(round(np.sqrt(data.x_train.shape[1])))  # square grayscale images: (N, 1, side, side)
n_train = 600 if SMOKE else len(data.x_train)
x_train, y_train = data.x_train[:n_train].reshape(-1, 1, side, side), data.y_train[:n_train]
x_test, y_test = data.x_test.reshape(-1, 1, side, side), data.y_test
print(f"{name}: {len(x_train)} training and {len(x_test)} test images of shape "
      f"{x_train.shape[1:]}")

# %%
BACKEND = "numpy"  # or "cupy" on a GPU, "torch"
backend = xpnet.get_backend(BACKEND)  # a missing library fails here, with the fix
print(f"xpnet {xpnet.__version__}, backend {BACKEND!r} on {backend.device_label()}"
      + (" (smoke mode: a few epochs only)" if SMOKE else ""))

# %% [markdown]
# ## 1. im2col
#
# For a 5x5 filter, each output position reads a 5x5 window of every channel. `im2col` lays the
# windows out side by side, so the convolution of all windows with all filters is one product of
# a (windows, C*5*5) matrix and the (C*5*5, filters) matrix of the filters.

# %%
cols = im2col(np, x_train[:1], 5, 5)  # (N, C, 5*5, OH, OW)
print("one image", x_train[:1].shape, "-> windows", cols.shape)
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
axes[0].imshow(x_train[0, 0], cmap="gray")
axes[0].set_title("the image")
axes[1].imshow(cols[0, 0].reshape(25, -1), cmap="gray", aspect="auto")
axes[1].set_title("its 5x5 windows (one column each)")
axes[1].set_xlabel("output position")
axes[1].set_ylabel("window element")
for ax in axes[:1]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The book's SimpleConvNet
#
# The book's class, signature and parameter names (`W1` is 30x1x5x5), trained with Adam by the
# same `Trainer` as chapter 6 (one accuracy per epoch; the losses of every iteration).

# %%
simple = xpnet.SimpleConvNet(input_dim=(1, side, side),
                             conv_param={"filter_num": 30, "filter_size": 5, "pad": 0,
                                         "stride": 1},
                             hidden_size=100, output_size=10, weight_init_std=0.01,
                             backend=BACKEND, random_state=0)
print({key: tuple(value.shape) for key, value in simple.params.items()})
trainer = xpnet.Trainer(simple, x_train, y_train, x_test, y_test, epochs=2 if SMOKE else 3,
                        mini_batch_size=100, optimizer="adam", optimizer_param={"lr": 0.001},
                        verbose=False)
history = trainer.train()
print(f"test accuracy {simple.accuracy(x_test, y_test):.4f}")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, len(trainer.train_loss_list) + 1) / trainer.iter_per_epoch,
        trainer.train_loss_list, label="training loss per iteration")
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. A deeper network from a list of layers
#
# `xpnet.Network` builds conv-BatchNorm-ReLU-pool twice and two dense layers from a list; every
# parameter lives in one flat buffer, as in chapter 6's networks.

# %%
layers = [("conv", {"filter_num": 16, "filter_size": 5, "pad": 2}), "batchnorm", "relu",
          ("pool", {"pool_h": 2}),
          ("conv", {"filter_num": 32, "filter_size": 3, "pad": 1}), "batchnorm", "relu",
          ("pool", {"pool_h": 2}),
          "flatten", ("dense", {"units": 100}), "relu", ("dense", {"units": 10})]
net = xpnet.Network(layers, input_shape=x_train.shape[1:], backend=BACKEND, random_state=0)
before = net.backend.to_numpy(net.params["W1"]).copy()
trainer = xpnet.Trainer(net, x_train, y_train, x_test, y_test, epochs=2 if SMOKE else 5,
                        mini_batch_size=100, optimizer="adam", optimizer_param={"lr": 0.001},
                        verbose=False)
history = trainer.train()
print(f"test accuracy {net.accuracy(x_test, y_test):.4f}")
fig, ax = plt.subplots(figsize=(6, 3.5))
epochs = range(1, len(history["train_acc"]) + 1)
ax.plot(epochs, history["train_acc"], label="training accuracy")
ax.plot(epochs, history["test_acc"], label="test accuracy")
ax.set_xlabel("epoch")
ax.set_ylabel("accuracy")
ax.xaxis.get_major_locator().set_params(integer=True)
ax.legend()
plt.show()

# %% [markdown]
# ## 4. The first layer's filters
#
# Before training they are noise; after it, some respond to edges and blobs.

# %%
after = net.backend.to_numpy(net.params["W1"])
fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
for row, (label, filters) in enumerate((("before", before), ("after", after))):
    for i, ax in enumerate(axes[row]):
        ax.imshow(filters[i, 0], cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(label)
fig.suptitle("first-layer filters (16 of 5x5)")
plt.show()
