"""Cross-entropy losses as Keras 3 computes them on the TensorFlow backend.

Two paths, chosen exactly as Keras chooses them:

* **From logits** -- when the model's last layer applies ``softmax`` (Keras recovers the
  logits ``z`` from the softmax op) or when ``from_logits=True``::

      loss_b = logsumexp(z_b) - sum_k y_bk z_bk          (no clipping)
      dL/dz_b = (softmax(z_b) - y_b) * scale

  With ``scale = 1 / batch_size`` this is the gradient of the batch mean, the one
  ``tf.nn.softmax_cross_entropy_with_logits`` back-propagates.

* **From probabilities** ``p`` (any other output): categorical normalises
  ``q = p / sum(p)``, clips ``q`` to ``[eps, 1 - eps]`` with ``eps = 1e-7`` and takes
  ``loss_b = -sum_k y_bk log q_bk``; sparse clips ``p`` then applies the logits formula
  to ``log p``.  Clipped entries get a zero gradient, as ``tf.clip_by_value``'s.

Shapes: ``y_true`` ``(n, k)`` one-hot/probabilities for categorical, ``(n,)`` or
``(n, 1)`` integer class ids for sparse; outputs ``(n, k)``; per-sample losses ``(n,)``.
The batch loss is the mean of the per-sample losses (Keras's ``sum_over_batch_size``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "CategoricalCrossentropy",
    "Loss",
    "SparseCategoricalCrossentropy",
    "categorical_crossentropy",
    "get",
    "sparse_categorical_crossentropy",
]

EPSILON = 1e-7  # keras.config.epsilon()


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class Loss:
    """Base class: ``value_and_grad`` gives per-sample losses and ``dL/d(output)``."""

    name = "loss"
    sparse = False

    def __init__(self, from_logits: bool = False, name: str | None = None) -> None:
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(
                f"Argument `from_logits` must be a bool. Received: from_logits={from_logits!r}"
            )
        self.from_logits = bool(from_logits)
        if name is not None:
            self.name = name

    def value_and_grad(
        self, y_true: np.ndarray, output: np.ndarray, scale: float, logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample losses ``(n,)`` and ``scale * d(sum of losses)/d(output)``.

        ``logits`` says that ``output`` holds logits (see the module docstring).
        """
        raise NotImplementedError

    def __call__(self, y_true: Any, y_pred: Any) -> np.float32:
        """Batch loss: the mean of the per-sample losses (``y_pred`` are probabilities
        unless ``from_logits``)."""
        losses, _ = self.value_and_grad(
            np.asarray(y_true), np.asarray(y_pred, np.float32), 1.0, self.from_logits
        )
        return np.float32(losses.mean(dtype=np.float32))


class CategoricalCrossentropy(Loss):
    """``-sum_k y_k log p_k`` for one-hot (or probability) targets ``(n, k)``."""

    name = "categorical_crossentropy"

    def value_and_grad(
        self, y_true: np.ndarray, output: np.ndarray, scale: float, logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        y = y_true.astype(np.float32, copy=False)
        s = np.float32(scale)
        if logits:
            logp = _log_softmax(output)
            losses = -(y * logp).sum(axis=-1)
            grad = np.exp(logp)
            grad -= y
            grad *= s
            return losses, grad
        total = output.sum(axis=-1, keepdims=True)
        q = output / total
        inside = (q > EPSILON) & (q < 1 - EPSILON)
        c = np.clip(q, np.float32(EPSILON), np.float32(1 - EPSILON))
        losses = -(y * np.log(c)).sum(axis=-1)
        dq = np.divide(-y, c, out=np.zeros_like(c), where=inside)
        grad = (dq - (dq * q).sum(axis=-1, keepdims=True)) / total
        return losses, (grad * s).astype(np.float32)


class SparseCategoricalCrossentropy(Loss):
    """``-log p_y`` for integer class ids ``(n,)`` or ``(n, 1)``."""

    name = "sparse_categorical_crossentropy"
    sparse = True

    def value_and_grad(
        self, y_true: np.ndarray, output: np.ndarray, scale: float, logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        labels = y_true.reshape(-1).astype(np.intp)
        rows = np.arange(labels.shape[0])
        s = np.float32(scale)
        if logits:
            z, inside, p = output, None, None
        else:
            p = output
            inside = (p > EPSILON) & (p < 1 - EPSILON)
            z = np.log(np.clip(p, np.float32(EPSILON), np.float32(1 - EPSILON)))
        logp = _log_softmax(z)
        losses = -logp[rows, labels]
        dz = np.exp(logp)
        dz[rows, labels] -= 1
        dz *= s
        if inside is None or p is None:
            return losses, dz
        grad = np.divide(dz, p, out=np.zeros_like(dz), where=inside)
        return losses, grad


_LOSSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier: Any) -> Loss:
    """A loss object from a name (``"categorical_crossentropy"``, ...) or an instance.

    >>> get("categorical_crossentropy").name
    'categorical_crossentropy'
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str) and identifier in _LOSSES:
        return _LOSSES[identifier]()
    raise ValueError(
        f"Argument `loss` must be one of {sorted(_LOSSES)} or a refimpl.losses.Loss. "
        f"Received: loss={identifier!r}"
    )


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    """Per-sample categorical cross-entropy, as ``keras.losses.categorical_crossentropy``.

    >>> categorical_crossentropy([[0, 0, 1]], [[0.0, 30.0, -30.0]], from_logits=True)
    array([60.], dtype=float32)
    >>> categorical_crossentropy([[0.0, 0, 1]], [[0.0, 1.0, 0.0]])  # clipped at 1e-7
    array([16.118095], dtype=float32)
    """
    losses, _ = CategoricalCrossentropy().value_and_grad(
        np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32), 1.0, from_logits
    )
    return losses


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False
) -> np.ndarray:
    """Per-sample sparse categorical cross-entropy (integer targets).

    >>> sparse_categorical_crossentropy([2], [[0.0, 30.0, -30.0]], from_logits=True)
    array([60.], dtype=float32)
    """
    losses, _ = SparseCategoricalCrossentropy().value_and_grad(
        np.asarray(y_true), np.asarray(y_pred, np.float32), 1.0, from_logits
    )
    return losses
