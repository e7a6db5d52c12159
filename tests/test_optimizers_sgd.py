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
        ({"momentum": "0.9"}, ValueError, "momentum='0.9'"),  # Keras: ValueError too
        ({"decay": "0.1"}, TypeError, "decay='0.1'"),
        ({"decay": float("inf")}, ValueError, "decay=inf"),
        ({"decay": float("nan")}, ValueError, "decay=nan"),
        ({"learning_rate": lambda step: 0.1, "decay": -0.5}, ValueError, "decay=-0.5"),
        ({"learning_rate": lambda step: 0.1, "decay": "0.5"}, TypeError, "decay='0.5'"),
        ({"learning_rate": float("inf"), "decay": 0.5}, ValueError, "learning_rate=inf"),
        ({"name": 3}, TypeError, "name=3"),
    ],
)
def test_bad_arguments(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        SGD(**kwargs)
    assert str(info.value).startswith(f"Argument `{match.split('=')[0]}`")


def _rates(opt: SGD, n: int) -> list[float]:
    w, g, rates = np.zeros(1, np.float32), np.ones(1, np.float32), []
    for _ in range(n):
        rates.append(float(opt.learning_rate))
        opt.apply([g], [w])
    return rates


def test_legacy_decay_on_a_plain_callable_and_an_integer_rate() -> None:
    """``decay`` stacks on any schedule, a plain callable included (it raised a TypeError
    naming `initial_learning_rate`); an int rate is the float32 rate SGD holds."""
    f32 = np.float32

    def legacy(lr: float, k: int) -> float:
        return float(f32(lr) / (f32(1) + f32(0.25) * f32(k)))

    assert _rates(SGD(lambda step: 0.2 if step < 2 else 0.1, decay=0.25), 4) == [
        legacy(0.2, 0),
        legacy(0.2, 1),
        legacy(0.1, 2),
        legacy(0.1, 3),
    ]
    assert _rates(SGD(1, decay=0.25), 3) == [legacy(1.0, k) for k in range(3)]
    schedule = PiecewiseConstantDecay([1], [0.2, 0.1])
    assert _rates(SGD(schedule, decay=0.25), 3) == [legacy(0.2, 0), legacy(0.2, 1), legacy(0.1, 2)]
    with pytest.raises(TypeError, match="must return a scalar number"):
        SGD(lambda step: "fast", decay=0.25).learning_rate  # noqa: B018


def test_set_state_checks_everything_before_changing_anything() -> None:
    opt = SGD(0.1, momentum=0.9)
    w = [np.ones(3, np.float32), np.ones((2, 2), np.float32)]
    opt.apply([np.ones(3, np.float32), np.ones((2, 2), np.float32)], w)
    momentums = [m.copy() for m in opt.momentums]
    new = [np.full(3, 5.0), np.full((2, 2), 5.0)]
    bad_states = [
        ({"iterations": -1, "momentums": new}, ValueError, r"state\['iterations'\]=-1"),
        ({"iterations": "7", "momentums": new}, TypeError, r"state\['iterations'\]='7'"),
        ({"iterations": True, "momentums": new}, TypeError, r"state\['iterations'\]=True"),
        ({"iterations": 7, "momentums": new[:1]}, ValueError, "1 momentum buffers for 2"),
        ({"iterations": 7, "momentums": [new[0], np.zeros(4)]}, ValueError, r"shape=\(4,\)"),
        ({"iterations": 7, "momentums": [new[0], np.full((2, 2), "a")]}, TypeError, "dtype <U1"),
        ({"iterations": 7, "learning_rate": -1.0}, ValueError, "learning_rate'\\]=-1.0"),
        ({"momentums": new}, ValueError, "'iterations'"),
    ]
    for state, exc, match in bad_states:
        with pytest.raises(exc, match=match):
            opt.set_state(state, w)
        assert opt.iterations == 1
        assert float(opt.learning_rate) == np.float32(0.1)
        for m0, m1 in zip(momentums, opt.momentums, strict=True):
            np.testing.assert_array_equal(m0, m1)
    opt.set_state({"iterations": 7, "momentums": new, "learning_rate": 0.5}, w)
    assert opt.iterations == 7
    assert float(opt.learning_rate) == 0.5
    np.testing.assert_array_equal(opt.momentums[1], new[1])


def test_set_state_rate_keeps_the_legacy_decay() -> None:
    opt = SGD(0.1, decay=0.5)
    opt.set_state({"iterations": 2, "learning_rate": 0.3}, [])
    assert float(opt.learning_rate) == float(np.float32(0.3) / (np.float32(1) + np.float32(1.0)))


def test_apply_names_its_arguments() -> None:
    with pytest.raises(ValueError, match=r"len\(grads\)=1, len\(variables\)=2"):
        SGD().apply([np.ones(1, np.float32)], [np.ones(1, np.float32)] * 2)


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
        # The rate of the next update, by the method the lesson prints: the same bits,
        # in the variables' dtype and in others.
        for dtype in ("float32", "float64", "float16"):
            theirs = kopt._decayed_lr(tf.as_dtype(dtype)).numpy()
            ours_lr = oopt._decayed_lr(dtype)
            assert ours_lr.dtype == theirs.dtype
            assert ours_lr == theirs, (dtype, ours_lr, theirs)
        assert oopt._decayed_lr() == oopt.learning_rate  # what the next update uses
