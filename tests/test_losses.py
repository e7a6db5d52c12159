"""Cross-entropy: hand-derived values, finite differences and Keras 3."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refimpl import losses
from refimpl.losses import CategoricalCrossentropy, SparseCategoricalCrossentropy


def test_from_logits_is_unclipped_with_gradient_softmax_minus_y() -> None:
    """SEMANTICS.md, measured: logits [0, 30, -30], class 2 -> loss 60, grad softmax - y."""
    z = np.array([[0.0, 30.0, -30.0]], np.float32)
    y = np.array([[0.0, 0.0, 1.0]], np.float32)
    loss, grad = CategoricalCrossentropy().value_and_grad(y, z, 1.0, logits=True)
    assert loss[0] == pytest.approx(60.0, rel=1e-6)  # log(1 + e^30 + e^-30) + 30
    e = np.exp(z[0] - 30.0)
    np.testing.assert_allclose(grad[0], e / e.sum() - y[0], rtol=1e-6, atol=1e-30)
    sparse_loss, sparse_grad = SparseCategoricalCrossentropy().value_and_grad(
        np.array([2]), z, 0.5, logits=True
    )
    assert sparse_loss[0] == loss[0]
    np.testing.assert_allclose(sparse_grad, 0.5 * grad, rtol=1e-6)


def test_probabilities_are_clipped_at_1e_7_with_zero_gradient() -> None:
    """The same probabilities fed without a softmax: -log(1e-7) = 16.118, gradient 0."""
    p = np.array([[0.0, 1.0, 0.0]], np.float32)
    loss, grad = CategoricalCrossentropy().value_and_grad(
        np.array([[0.0, 0.0, 1.0]], np.float32), p, 1.0, logits=False
    )
    assert loss[0] == pytest.approx(-math.log(np.float32(1e-7)), rel=1e-6)
    np.testing.assert_array_equal(grad, 0)
    sloss, sgrad = SparseCategoricalCrossentropy().value_and_grad(np.array([2]), p, 1.0, False)
    assert sloss[0] == pytest.approx(loss[0], rel=1e-5)
    assert np.all(sgrad[0, 2] == 0)


@pytest.mark.parametrize("cls", [CategoricalCrossentropy, SparseCategoricalCrossentropy])
@pytest.mark.parametrize("logits", [True, False])
def test_gradient_matches_finite_differences(cls, logits: bool) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 3)
    y = labels if cls is SparseCategoricalCrossentropy else np.eye(5, dtype=np.float32)[labels]
    out = rng.standard_normal((3, 5)) if logits else rng.uniform(0.05, 1.0, (3, 5))
    if not logits and cls is SparseCategoricalCrossentropy:
        out = out / out.sum(axis=1, keepdims=True)
    loss_fn = cls()
    _, grad = loss_fn.value_and_grad(y, out.astype(np.float32), 1 / 3, logits)
    eps = 1e-3
    for idx in np.ndindex(out.shape):
        up, down = out.copy(), out.copy()
        up[idx] += eps
        down[idx] -= eps
        lu, _ = loss_fn.value_and_grad(y, up.astype(np.float32), 1.0, logits)
        ld, _ = loss_fn.value_and_grad(y, down.astype(np.float32), 1.0, logits)
        fd = (lu.astype(np.float64).mean() - ld.astype(np.float64).mean()) / (2 * eps)
        assert grad[idx] == pytest.approx(fd, rel=1e-2, abs=1e-3)


def test_get_rejects_unknown_names() -> None:
    assert isinstance(losses.get("sparse_categorical_crossentropy"), SparseCategoricalCrossentropy)
    with pytest.raises(ValueError, match="loss='mse'"):
        losses.get("mse")
    with pytest.raises(TypeError, match="from_logits='yes'"):
        CategoricalCrossentropy(from_logits="yes")  # type: ignore[arg-type]


@pytest.mark.tf
def test_per_sample_losses_match_keras() -> None:
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((16, 10)) * 8).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    y = np.eye(10, dtype=np.float32)[labels]
    p = rng.uniform(0, 1, (16, 10)).astype(np.float32)
    p[:, 3] = 0  # some clipped entries
    kcce = keras.losses.categorical_crossentropy
    kscce = keras.losses.sparse_categorical_crossentropy
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, z, from_logits=True),
        np.asarray(kcce(y, z, from_logits=True)),
        rtol=1e-5,
        atol=2e-7,
    )
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, p), np.asarray(kcce(y, p)), rtol=1e-5, atol=2e-7
    )
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, p),
        np.asarray(kscce(labels, p)),
        rtol=1e-5,
        atol=2e-7,
    )
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy(labels, z, from_logits=True),
        np.asarray(kscce(labels, z, from_logits=True)),
        rtol=1e-5,
        atol=2e-7,
    )
    # The batch loss is the mean (Keras's sum_over_batch_size).
    assert float(CategoricalCrossentropy()(y, p)) == pytest.approx(
        float(keras.losses.CategoricalCrossentropy()(y, p)), rel=1e-6
    )
