"""xpnet: readable neural networks written once against the Python Array API.

The same layers, losses and optimizers train on NumPy (default), CuPy (``backend="cupy"``),
PyTorch (``backend="torch"``/``"torch:cuda"``) and ``array_api_strict``.
"""

from . import datasets, optimizers, plot, search
from .backend import Backend, BackendUnavailableError, get_backend
from .estimators import MLPClassifier, MLPRegressor
from .io import load, save
from .layers import (
                     Affine,
                     BatchNorm,
                     BatchNormalization,
                     Dense,
                     Dropout,
                     Identity,
                     ReLU,
                     Relu,
                     Sigmoid,
                     Tanh,
)
from .losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy, SoftmaxWithLoss
from .network import MultiLayerNet, MultiLayerNetExtend
from .optimizers import SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop
from .search import random_search
from .seed_models import DualLayer, MinibatchNetwork, RandomInitNetwork, SingleLayer
from .trainer import DivergenceError, History, Trainer

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendUnavailableError", "get_backend", "optimizers", "datasets", "plot", "search",
    "Affine", "BatchNorm", "BatchNormalization", "Dense", "Dropout", "Identity", "ReLU", "Relu",
    "Sigmoid", "Tanh",
    "BinaryCrossEntropy", "MeanSquaredError", "SoftmaxCrossEntropy", "SoftmaxWithLoss",
    "MultiLayerNet", "MultiLayerNetExtend",
    "SGD", "AdaGrad", "Adam", "AdamW", "Momentum", "Nesterov", "RMSprop",
    "DualLayer", "MinibatchNetwork", "RandomInitNetwork", "SingleLayer",
    "DivergenceError", "History", "Trainer",
    "MLPClassifier", "MLPRegressor", "load", "save", "random_search",
]
