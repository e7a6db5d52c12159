"""SGD: hand-derived updates, Keras 3 and tf_keras legacy step for step, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.optimizers import SGD
from refimpl.schedules import ExponentialDecay, PiecewiseConstantDecay


def test_plain_momentum_and_nesterov_by_hand() -> None:
    g = np.array([2.0], np.float32)
    w = np.array([1.0], np.float32)
    SGD(learning_rate=0.5).apply([g], [w])
    assert w[0] == np.float32(1.0) - np.float32(2.0) * np.float32(0.5)  # w -= g * lr
    w = np.array([1.0], np.float32)
    opt = SGD(learning_rate=0.5, momentum=0.5)
    opt.apply([g], [w])  # m = -1, w = 0
    opt.apply([g], [w])  # m = -0.5 - 1 = -1.5, w = -1.5
    assert w[0] == -1.5
    np.testing.assert_array_equal(opt.momentums[0], [-1.5])
    w = np.array([1.0], np.float32)
    opt = SGD(learning_rate=0.5, momentum=0.5, nesterov=True)
    opt.apply([g], [w])  # m = -1; w += 0.5*(-1) - 1 = -1.5 -> w = -0.5
    assert w[0] == -0.5
    opt.apply([g], [w])  # m = -1.5; w += -0.75 - 1 -> w = -2.25
    assert w[0] == -2.25
    assert opt.iterations == 2


def test_schedule_is_evaluated_at_iterations_before_the_update() -> None:
    sched = PiecewiseConstantDecay([0, 1], [1.0, 0.5, 0.25])
    opt = SGD(learning_rate=sched)
    w = np.zeros(1, np.float32)
    g = np.ones(1, np.float32)
    seen = []
    for _ in range(3):
        seen.append(float(opt.learning_rate))
        opt.apply([g], [w])
    assert seen == [1.0, 0.5, 0.25]  # steps 0, 1, 2
    assert w[0] == -1.75


def test_legacy_decay_is_lr_over_one_plus_decay_times_iterations() -> None:
    opt = SGD(learning_rate=0.1, decay=0.5)
    w = np.zeros(1, np.float32)
    g = np.ones(1, np.float32)
    rates = []
    for _ in range(3):
        rates.append(float(opt.learning_rate))
        opt.apply([g], [w])
    expected = [
        np.float32(0.1) / (np.float32(1) + np.float32(0.5) * np.float32(k)) for k in range(3)
    ]
    assert rates == [float(r) for r in expected]


def test_learning_rate_setter_rules() -> None:
    opt = SGD(0.01)
    opt.learning_rate = 0.5
    assert float(opt.learning_rate) == 0.5
    with pytest.raises(TypeError, match="not settable"):
        SGD(ExponentialDecay(0.1, 10, 0.5)).learning_rate = 0.1
    with pytest.raises(ValueError, match="learning_rate=nan"):
        opt.learning_rate = float("nan")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"momentum": 1.5}, ValueError, "momentum=1.5"),
        ({"momentum": -0.1}, ValueError, "momentum=-0.1"),
        ({"nesterov": "yes"}, TypeError, "nesterov='yes'"),
        ({"decay": -1.0}, ValueError, "decay=-1.0"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate='0.1'"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate=-0.1"),
    ],
)
def test_bad_arguments(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        SGD(**kwargs)


def test_state_round_trip() -> None:
    opt = SGD(0.1, momentum=0.9)
    w = np.ones(3, np.float32)
    opt.apply([np.ones(3, np.float32)], [w])
    state = opt.get_state()
    other = SGD(0.1, momentum=0.9)
    other.set_state(state, [w])
    assert other.iterations == 1
    np.testing.assert_array_equal(other.momentums[0], opt.momentums[0])


@pytest.mark.tf
@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_matches_keras3_sgd_step_for_step(momentum: float, nesterov: bool) -> None:
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    kvar = keras.Variable(w0.copy())
    kopt = keras.optimizers.SGD(
        learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5),
        momentum=momentum,
        nesterov=nesterov,
    )
    ours = w0.copy()
    oopt = SGD(ExponentialDecay(0.1, 3, 0.5), momentum=momentum, nesterov=nesterov)
    for _ in range(7):
        g = rng.standard_normal((4, 3)).astype(np.float32)
        kopt.apply_gradients([(keras.ops.convert_to_tensor(g), kvar)])
        oopt.apply([g], [ours])
        np.testing.assert_allclose(ours, np.asarray(kvar.numpy()), rtol=2e-7, atol=1e-7)
    assert oopt.iterations == int(kopt.iterations.numpy())
    assert float(oopt.learning_rate) == float(np.asarray(kopt.learning_rate))


@pytest.mark.tf
def test_legacy_decay_matches_tf_keras_legacy_sgd() -> None:
    tf = pytest.importorskip("tensorflow")
    tf_keras = pytest.importorskip("tf_keras")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5).astype(np.float32)
    kvar = tf.Variable(w0.copy())
    kopt = tf_keras.optimizers.legacy.SGD(learning_rate=0.05, momentum=0.5, decay=0.3)
    ours = w0.copy()
    oopt = SGD(0.05, momentum=0.5, decay=0.3)
    for _ in range(6):
        g = rng.standard_normal(5).astype(np.float32)
        kopt.apply_gradients([(tf.constant(g), kvar)])
        oopt.apply([g], [ours])
        np.testing.assert_allclose(ours, kvar.numpy(), rtol=1e-6, atol=1e-7)
