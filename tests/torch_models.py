"""PyTorch models for the torch frontend's tests (tests/test_torch_frontend.py,
tests/test_torch_archive.py), and the pickle that must never be unpickled."""

from __future__ import annotations

import functools
import pathlib
import warnings

import numpy as np
import torch
from torch import nn

T, F = 6, 3

_RNN = {"lstm": lambda **kw: nn.LSTM(**kw), "gru": lambda **kw: nn.GRU(**kw),
        "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
        "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw)}
_HEAD = {"none": None, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
         "softmax": lambda: nn.Softmax(dim=-1)}


class Net(nn.Module):
    """``rnn`` then ``nn.Linear`` (+ activation) on the last step or on every step."""

    def __init__(self, kind="gru", units=5, layers=1, batch_first=True, bias=True, last=True,
                 head="none", outputs=4, take="index", dropout=0.0):
        super().__init__()
        self.rnn = _RNN[kind](input_size=F, hidden_size=units, num_layers=layers,
                              batch_first=batch_first, bias=bias, dropout=dropout)
        act = _HEAD[head]
        self.fc = nn.Sequential(nn.Linear(units, outputs), act()) if act else nn.Linear(units, outputs)
        self.batch_first, self.last, self.take = batch_first, last, take

    def forward(self, x):
        out, state = self.rnn(x)
        if self.last:
            if self.take == "h_n":
                h = state[0] if isinstance(state, tuple) else state
                out = h[-1]
            else:
                out = out[:, -1, :] if self.batch_first else out[-1]
        return self.fc(out)


def seeded(module, seed=0):
    """``module`` in eval mode with weights uniform in [-0.6, 0.6) (seeded)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.6, 0.6)
    return module.eval()


def sample_x(n=24, seed=1):
    """``n`` input sequences ``[n, T, F]``, uniform in [-1, 1)."""
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, T, F)).astype(np.float32)


def torch_forward(module, x, batch_first, dtype=torch.float64):
    """The module itself on ``x`` [batch, steps, features] (transposed in and out when
    batch_first=False), as a numpy array in rnnrtl's layout."""
    m = module.to(dtype)
    t = torch.from_numpy(np.asarray(x)).to(dtype)
    with torch.no_grad():
        y = m(t if batch_first else t.transpose(0, 1))
    module.to(torch.float32)
    y = y.numpy()
    if y.ndim == 3 and not batch_first:
        y = np.swapaxes(y, 0, 1)
    return y


def save_pt2(module, path, example=None):
    """``module`` exported on ``example`` (one zero sequence) and saved with torch.export.save."""
    example = torch.zeros(1, T, F) if example is None else example
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(module.eval(), (example,)), str(path))
    return path


class Boom:
    """Unpickling it creates the file ``Boom.marker``: a test asserts the file never appears."""
    marker = ""

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(Boom.marker),))


class Tagger(nn.Module):
    """``kind``(16) on 8 steps of 8 features, then Linear(10) on the last step: a digit classifier
    (tests/models.py's ``digits``), trained by :func:`trained_tagger`."""

    def __init__(self, kind: str):
        super().__init__()
        self.rnn = _RNN[kind](input_size=8, hidden_size=16, batch_first=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


@functools.lru_cache(maxsize=None)
def trained_tagger(kind: str, epochs: int = 6, seed: int = 1234):
    """``(module, accuracy on the held-out digits)``, trained with Adam (seeded; one thread, a few
    seconds)."""
    from models import digits
    data = digits()
    torch.manual_seed(seed)
    module = Tagger(kind)
    optimiser = torch.optim.Adam(module.parameters(), lr=2e-2)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    order = np.random.default_rng(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny matrices: threads only contend
    try:
        for _ in range(epochs):
            for batch in np.array_split(order.permutation(len(x)), len(x) // 64):
                optimiser.zero_grad()
                loss = nn.functional.cross_entropy(module(x[batch]), y[batch])
                loss.backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    module.eval()
    with torch.no_grad():
        predicted = module(torch.from_numpy(data.x_test)).argmax(-1).numpy()
    return module, float(np.mean(predicted == data.y_test))
