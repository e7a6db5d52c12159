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

    Subclasses keep ``iterations`` (updates so far) and implement ``_rate_at(step)``:
    the float32 learning rate of the update made at ``step``, legacy decay included.
    """

    iterations: int

    def _rate_at(self, step: int) -> np.float32:
        raise NotImplementedError

    def _decayed_lr(self, var_dtype: npt.DTypeLike = np.float32) -> Any:
        """The learning rate of the next update, as Keras 2's ``_decayed_lr``::

            lr_t = learning_rate(iterations) if learning_rate is a schedule else learning_rate
            if decay > 0:                    # the legacy argument (Keras 3 ignores it)
                lr_t = lr_t / (1 + decay * iterations)

        computed in float32 (the optimizer holds its rate in float32), then cast to
        ``var_dtype`` (a 0-d array).

        >>> from refimpl.optimizers import SGD
        >>> opt = SGD(learning_rate=0.1, decay=0.5)
        >>> opt.iterations = 2
        >>> opt._decayed_lr()
        array(0.05, dtype=float32)
        """
        return np.asarray(self._rate_at(self.iterations)).astype(var_dtype)
