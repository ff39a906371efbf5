"""Seed 001's DualLayer, copied verbatim (the baseline of benchmarks/run_cpu.py part b).

Source: /work/shared/seeds/001_2c78153fb8afbf25.txt ("Python으로 다층신경망 구현하기",
Kellyyyy, 2020), the class exactly as the post prints it: ones-initialized weights, float64
NumPy, full-batch gradient descent, the validation loss every epoch, and the seed's own quirks
(``b1_grad = np.sum(err_to_hidden) / m`` sums over the hidden units too, ``x_val`` is
required).  Do not "fix" it: it is the code whose speed xpnet is compared with.  Only this
docstring, the import and the ``noqa`` marker were added.

Used as ``DualLayer(l2=0.01).fit(x_train_scaled, y_train, x_val_scaled, y_val, epochs=5000)``.
"""
# ruff: noqa

import numpy as np


class DualLayer() :
  def __init__(self,l1=0, l2=0, learning_rate=0.1, units=10) :
    self.w1 = None
    self.b1 = None
    self.w2 = None
    self.b2 = None
    self.a1 = None
    self.l1 = l1
    self.l2 = l2
    self.lr = learning_rate
    self.losses = []
    self.units = units
    self.val_losses = []

  def forpass(self, x) :
    z1 = np.dot(x,self.w1) + self.b1
    self.a1 = self.activation(z1)
    z2 = np.dot(self.a1, self.w2) + self.b2
    return z2
  
  def activation(self, z) :
    a = 1 / (1+np.exp(-z))
    return a
  
  def backprop(self,x,err) :
    m = len(x)
    w2_grad = np.dot(self.a1.T,err) / m
    b2_grad = np.sum(err) / m
    err_to_hidden = np.dot(err,self.w2.T) * self.a1 * (1-self.a1)
    w1_grad = np.dot(x.T, err_to_hidden) / m
    b1_grad = np.sum(err_to_hidden) / m
    return w1_grad, b1_grad, w2_grad, b2_grad

  def fit(self, x, y, x_val=None, y_val=None,epochs=100) :
    y = y.reshape(-1,1)
    m = len(x)
    self.init_weights(x.shape[1])
    y_val = y_val.reshape(-1,1)

    for i in range(epochs) :
      a = self.training(x,y,m)
      a = np.clip(a, 1e-10, 1-1e-10)
      loss = np.sum(-(y*np.log(a) + (1-y)*np.log(1-a)))
      self.losses.append((loss + self.reg_loss()) / m)
      self.update_val_loss(x_val, y_val)

  def update_val_loss(self, x_val, y_val) :
    z = self.forpass(x_val)
    a = self.activation(z)
    a = np.clip(a, 1e-10, 1-1e-10)
    val_loss = np.sum(-(y_val*np.log(a) + (1-y_val) * np.log(1-a)))
    self.val_losses.append((val_loss + self.reg_loss())/len(y_val))

  def reg_loss(self) :
    return self.l1 * (np.sum(np.abs(self.w1)) + np.sum(np.abs(self.w2))) + self.l2/2 * (np.sum(self.w1**2) + np.sum(self.w2**2))

  def init_weights(self, n_features) :
    self.w1 = np.ones((n_features, self.units))
    self.b1 = np.zeros(self.units)
    self.w2 = np.ones((self.units, 1))
    self.b2 = 0

  def training(self,x,y,m) :
    z = self.forpass(x)
    a = self.activation(z)
    err = -(y-a)
    w1_grad, b1_grad, w2_grad, b2_grad = self.backprop(x,err)
    
    w1_grad += (self.l1 * np.sign(self.w1) + self.l2 * self.w1) / m
    w2_grad += (self.l1 * np.sign(self.w2) + self.l2 * self.w2) / m

    self.w1 -= self.lr * w1_grad
    self.b1 -= self.lr * b1_grad
    self.w2 -= self.lr * w2_grad
    self.b2 -= self.lr * b2_grad

    return a

  def predict(self, x) :
    z = self.forpass(x)
    return z > 0

  def score(self,x,y) :
    return np.mean(self.predict(x) == y.reshape(-1,1))
