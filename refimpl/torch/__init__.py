"""PyTorch's learning-rate schedulers in NumPy: :mod:`refimpl.torch.lr_scheduler`.

NumPy only: nothing here imports torch (the tests do, to prove parity).

>>> from refimpl.torch.lr_scheduler import StepLR
>>> StepLR(0.1, step_size=30, gamma=0.1)([0, 29, 30])
array([0.1 , 0.1 , 0.01])
"""

from refimpl.torch import lr_scheduler, optim

__all__ = ["lr_scheduler", "optim"]
