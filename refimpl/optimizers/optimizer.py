"""The optimizer base class: what every refimpl optimizer shares with Keras's.

Only what the lesson reads is here: the step counter ``iterations`` and Keras 2's
``Optimizer._decayed_lr``, the method the lesson prints with ``inspect.getsource`` to
show where the legacy ``decay=`` argument acts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Optimizer"]


class Optimizer:
    """Base of refimpl's optimizers (:class:`~refimpl.optimizers.SGD`).

    Subclasses keep ``iterations`` (updates so far), ``decay`` (the legacy argument, 0
    for none) and ``_base_learning_rate`` (the float32 rate, or a schedule called with
    the step).
    """

    iterations: int
    decay: float
    _base_learning_rate: Any

    def _decayed_lr(self, var_dtype: npt.DTypeLike = np.float32) -> np.ndarray:
        """The learning rate of the next update in ``var_dtype``, as Keras 2's
        ``_decayed_lr`` computes it (a 0-d array)::

            lr_t = cast(learning_rate(iterations) if learning_rate is a schedule
                        else learning_rate, var_dtype)
            if decay > 0:                    # the legacy argument (Keras 3 ignores it)
                lr_t = lr_t / (1 + cast(decay, var_dtype) * cast(iterations, var_dtype))

        The rate is the float32 value the optimizer holds, and ``decay`` a Python float
        goes through float32 (TensorFlow's ``cast`` of a Python float), then both are
        cast to ``var_dtype``.  In float32 this is the rate the next update uses.

        >>> from refimpl.optimizers import SGD
        >>> opt = SGD(learning_rate=0.1, decay=0.5)
        >>> opt.iterations = 2
        >>> opt._decayed_lr()
        array(0.05, dtype=float32)
        >>> float(opt._decayed_lr("float64"))  # 0.1 and 0.5 through float32, then float64
        0.05000000074505806
        """
        dtype = np.dtype(var_dtype)
        step, base = self.iterations, self._base_learning_rate
        lr_t = np.asarray(base(step) if callable(base) else base).astype(dtype)
        if self.decay > 0:
            decay_t = np.asarray(np.float32(self.decay)).astype(dtype)
            lr_t = lr_t / (dtype.type(1) + decay_t * dtype.type(step))
        return np.asarray(lr_t, dtype)
