"""Sequential: training semantics, checkpoints, bad input, summary, the step's rate."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from refimpl import Sequential, layers, losses
from refimpl.optimizers import SGD
from refimpl.schedules import ExponentialDecay


def _model(
    lr=0.01, momentum=0.0, loss="categorical_crossentropy", activation="softmax", compile=True
):  # type: ignore[no-untyped-def]
    model = Sequential(
        [
            layers.Conv2D(3, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
            layers.Conv2D(2, 3, padding="valid", activation="relu"),
            layers.Flatten(),
            layers.Dense(4, activation=activation),
        ]
    )
    if compile:
        model.compile(SGD(lr, momentum=momentum), loss, ["accuracy"])
    return model


def _data(n: int = 23, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 6, 6, 1)).astype(np.uint8)
    return x, np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]


def test_summary_counts_the_lessons_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    model = Sequential(
        [
            layers.Conv2D(32, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.summary()
    out = capsys.readouterr().out
    for text in ("320", "4,624", "125,450", "Total params: 130,394", "(None, 28, 28, 32)"):
        assert text in out


def test_epoch_loss_is_sample_weighted() -> None:
    """lr = 0 keeps the weights fixed: batches of 10, 10 and 3 samples must report the
    mean over all 23 samples, not the mean of the three batch means."""
    from refimpl.utils import set_random_seed

    x, y = _data()
    x = x / np.float32(255)  # moderate losses: no float32 underflow in predict's probabilities
    set_random_seed(0)  # initial weights that tell the two means apart (unseeded: 9% did not)
    model = _model(lr=0.0)
    hist = model.fit(x, y, batch_size=10, epochs=1, verbose=0, shuffle=False)
    probs = model.predict(x).astype(np.float64)
    per_sample = -np.log((probs * y).sum(axis=1))
    assert hist.history["loss"][0] == pytest.approx(per_sample.mean(), rel=1e-5)
    batch_means = [per_sample[:10].mean(), per_sample[10:20].mean(), per_sample[20:].mean()]
    assert abs(np.mean(batch_means) - per_sample.mean()) > 1e-3  # the test can tell them apart
    acc = (probs.argmax(1) == y.argmax(1)).mean()
    assert hist.history["accuracy"][0] == pytest.approx(acc)
    assert model.evaluate(x, y, verbose=0) == pytest.approx([per_sample.mean(), acc], rel=1e-5)


def test_one_step_equals_a_hand_computed_whole_batch_gradient_step() -> None:
    """Parts and sub-batches on workers give the whole-batch gradient: compare one SGD
    step with the same step taken layer by layer on the whole batch in one workspace."""
    from refimpl.layers import to_trainer_layout
    from refimpl.workspace import Workspace

    x, y = _data(n=13)
    model = _model(lr=0.001)
    before = model.get_weights()
    ws = [Workspace() for _ in model.layers]
    h = to_trainer_layout(x.astype(np.float32))
    for i, layer in enumerate(model.layers):
        h = layer.forward(h, ws[i], logits=i == 3)
    _, g = losses.CategoricalCrossentropy().value_and_grad(y, h, 1 / 13, logits=True)
    grads = [[np.zeros_like(w) for w in layer.weights] for layer in model.layers]
    for i in range(3, -1, -1):
        g = model.layers[i].backward(g, ws[i], grads[i], need_dx=i > 0, logits=i == 3)
    model.fit(x, y, batch_size=13, epochs=1, verbose=0, shuffle=False)
    flat = [g for layer in grads for g in layer]
    for w0, w1, gr in zip(before, model.get_weights(), flat, strict=True):
        np.testing.assert_allclose(w1, w0 - np.float32(0.001) * gr, rtol=1e-5, atol=1e-7)


def test_without_a_blas_limit_one_worker_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """When BLAS's thread count cannot be limited, BLAS keeps its threads and the trainer
    runs one worker (the same result: the partition does not depend on workers)."""
    from refimpl import _threads
    from refimpl.engine import Execution

    x, y = _data(n=40)
    a = _model(momentum=0.9)
    a.execution = Execution(2, "thread")
    b = _model(momentum=0.9)
    b.set_weights(a.get_weights())
    a.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    monkeypatch.setattr(_threads, "_openblas_functions", lambda: None)
    monkeypatch.setitem(__import__("sys").modules, "threadpoolctl", None)
    engine = b._engine(16, y)
    with engine:
        assert engine.execution.workers == 1
    b.execution = Execution(2, "thread")
    b.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_iterations_carry_across_fit_calls_and_schedule_continues() -> None:
    x, y = _data(n=20)
    model = _model()
    model.compile(SGD(ExponentialDecay(0.01, 3, 0.5)), "categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model.optimizer is not None
    assert model.optimizer.iterations == 3
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert model.optimizer.iterations == 9
    assert hist.history["learning_rate"][-1] == pytest.approx(0.01 * 0.5**3, rel=1e-6)


@pytest.mark.parametrize(
    ("fit_kwargs", "exc", "match"),
    [
        ({"x": np.zeros((4, 6, 6))}, ValueError, r"x.shape=\(4, 6, 6\)"),
        ({"x": np.full((4, 6, 6, 1), "a")}, TypeError, "dtype <U1"),
        ({"y": np.zeros((4, 3))}, ValueError, r"y.shape=\(4, 3\)"),
        ({"y": np.zeros((5, 4))}, ValueError, "same number of samples"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"batch_size": 2.5}, TypeError, "batch_size=2.5"),
        ({"epochs": -1}, ValueError, "epochs=-1"),
        ({"verbose": 3}, ValueError, "verbose=3"),
        ({"validation_data": (np.zeros((2, 5, 5, 1)), np.zeros((2, 4)))}, ValueError, "5, 5"),
    ],
)
def test_bad_input_raises_before_training(fit_kwargs: dict, exc: type, match: str) -> None:
    model = _model()
    before = model.get_weights()
    kwargs = {"x": np.zeros((4, 6, 6, 1)), "y": np.eye(4), "verbose": 0, **fit_kwargs}
    with pytest.raises(exc, match=match):
        model.fit(**kwargs)
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert model.optimizer is not None
    assert model.optimizer.iterations == 0


def test_sparse_labels_are_checked_and_train_like_one_hot() -> None:
    x, y = _data(n=16)
    labels = y.argmax(1)
    a = _model(loss="sparse_categorical_crossentropy")
    b = _model()
    b.set_weights(a.get_weights())
    ha = a.fit(x, labels, batch_size=8, epochs=1, verbose=0, shuffle=False)
    hb = b.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="outside"):
        a.fit(x, labels + 4, verbose=0)
    with pytest.raises(ValueError, match="loss="):
        a.compile(SGD(), "hinge")


def test_nan_schedule_is_rejected_before_training() -> None:
    from refimpl.exceptions import ScheduleWarning
    from refimpl.schedules import PiecewiseConstantDecay

    x, y = _data(n=8)
    model = _model()
    with pytest.warns(ScheduleWarning):
        schedule = PiecewiseConstantDecay([2], [0.01, float("nan")])
    model.compile(SGD(schedule), "categorical_crossentropy")
    with pytest.raises(ValueError, match="non-finite learning rate at step 0"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert model.optimizer is not None
    assert model.optimizer.iterations == 0


def test_nan_loss_stops_training_with_one_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _data(n=32)
    model = _model()
    weights = model.get_weights()
    weights[-2][...] = 3e38  # the logits overflow to inf: the first batch loss is NaN
    model.set_weights(weights)
    with pytest.warns(RuntimeWarning) as record:
        hist = model.fit(x, y, batch_size=4, epochs=5, verbose=0, shuffle=False)
    assert len(hist.history["loss"]) == 1  # stopped within the first epoch
    assert [str(w.message) for w in record] == [model.stop_reason]
    assert model.stop_reason is not None
    assert model.stop_reason.startswith("Epoch 1, batch 1/8: the loss is nan")
    assert "training stopped before this batch's update" in model.stop_reason
    assert capsys.readouterr() == ("", "")  # verbose=0: nothing else
    for w0, w1 in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)  # the bad batch's update was not applied


@pytest.mark.parametrize("verbose", [0, 2])
def test_terminate_on_nan_does_not_repeat_the_message(
    verbose: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue: with TerminateOnNaN the stop was printed twice plus a RuntimeWarning, the
    batch numbered from 0 in one and from 1 in the other.  Now: one warning, one
    numbering (batch 3 of 8, as the progress line counts)."""
    from refimpl.callbacks import TerminateOnNaN

    x, y = _data(n=32)
    x = x.astype(np.float32)
    x[8:12] = np.nan  # the third batch of 4 has a NaN loss
    model = _model(lr=0.0)
    weights = model.get_weights()
    with pytest.warns(RuntimeWarning) as record:
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=1,
            verbose=verbose,
            shuffle=False,
            callbacks=[TerminateOnNaN()],
        )
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith("Epoch 1, batch 3/8: the loss is nan"), message
    out, err = capsys.readouterr()
    assert "Invalid loss" not in out + err
    assert "batch" not in err.lower()
    assert model.optimizer is not None
    assert model.optimizer.iterations == 2
    for w0, w1 in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)  # lr 0: nothing moved


def test_terminate_on_nan_with_raise_error_raises_instead() -> None:
    from refimpl.callbacks import TerminateOnNaN

    x, y = _data(n=8)
    model = _model()
    weights = model.get_weights()
    weights[-2][...] = 3e38
    model.set_weights(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on top of the exception
        with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
            model.fit(x, y, batch_size=4, verbose=0, callbacks=[TerminateOnNaN(raise_error=True)])


def test_the_step_rate_is_evaluated_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every update applies ``learning_rate_of_step(optimizer, iterations)``: replacing
    that one function changes the rate the weights move by."""
    from refimpl import models

    x, y = _data(n=8)
    seen = []

    def doubled(optimizer, step, mode):  # type: ignore[no-untyped-def]
        seen.append((step, mode))
        return np.float32(2 * optimizer._rate_at(step))

    a, b = _model(lr=0.01), _model(lr=0.02)
    b.set_weights(a.get_weights())
    monkeypatch.setattr(models, "learning_rate_of_step", doubled)
    a.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    monkeypatch.undo()
    b.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert seen == [(0, "graph"), (1, "graph")]
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_progress_line_format(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _data(n=20)
    _model().fit(x, y, batch_size=8, epochs=2, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2"
    assert out[1].startswith("3/3 - ")
    assert "/step - accuracy: " in out[1]
    assert " - loss: " in out[1]


def test_predict_returns_probabilities_and_linear_output_uses_clipped_loss() -> None:
    x, y = _data(n=9)
    model = _model()
    p = model.predict(x)
    assert p.shape == (9, 4)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    lin = _model(activation=None)
    lin.compile(SGD(0.01), losses.CategoricalCrossentropy(from_logits=True), ["accuracy"])
    assert np.isfinite(lin.fit(x, y, verbose=0).history["loss"][0])
    with pytest.raises(ValueError, match="compile"):
        Sequential([layers.Dense(2, input_shape=(3,))]).fit(np.zeros((2, 3)), np.eye(2))


# -- set_weights: all or nothing ------------------------------------------------------------


def _snapshot(model: Sequential) -> tuple[list[np.ndarray], dict]:
    assert model.optimizer is not None
    return model.get_weights(), model.optimizer.get_state()


def _assert_unchanged(model: Sequential, snapshot: tuple[list[np.ndarray], dict]) -> None:
    weights, state = snapshot
    for w0, w1 in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)
    assert model.optimizer is not None
    after = model.optimizer.get_state()
    assert after["iterations"] == state["iterations"]
    assert after["learning_rate"] == state["learning_rate"]
    assert len(after["momentums"]) == len(state["momentums"])
    for m0, m1 in zip(state["momentums"], after["momentums"], strict=True):
        np.testing.assert_array_equal(m0, m1)


def _trained(units: int = 4, momentum: float = 0.9, lr: float = 0.01) -> Sequential:
    """The _model layout with `units` outputs, compiled with momentum and trained a step,
    so that its weights, iterations and momentum buffers all differ from a fresh one's."""
    model = Sequential(
        [
            layers.Conv2D(3, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
            layers.Conv2D(2, 3, padding="valid", activation="relu"),
            layers.Flatten(),
            layers.Dense(units, activation="softmax"),
        ]
    )
    model.compile(SGD(lr, momentum=momentum), "categorical_crossentropy")
    x, _ = _data(n=8)
    y = np.eye(units, dtype=np.float32)[np.arange(8) % units]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return model


@pytest.mark.parametrize(
    ("position", "replacement", "exc"),
    [
        (-1, np.zeros(5, np.float32), ValueError),  # the last bias: wrong shape
        (-2, "kernel", TypeError),  # not an array of numbers
        (-2, np.full((18, 4), "a"), TypeError),
        (-2, np.zeros((18, 4), complex), TypeError),
    ],
)
def test_set_weights_checks_every_array_before_writing(
    position: int, replacement: object, exc: type
) -> None:
    model = _trained()
    before = _snapshot(model)
    weights = [w + 1 for w in model.get_weights()]  # all different from the model's
    weights[position] = replacement  # type: ignore[call-overload]
    with pytest.raises(exc, match=r"Argument `weights`.*weights\[\d\]"):
        model.set_weights(weights)
    _assert_unchanged(model, before)


def test_set_weights_accepts_numbers_as_python_objects_as_keras_does() -> None:
    """An object array of numbers (e.g. built from a list) sets the same float32 values;
    an object array holding something else is still refused."""
    model = _model()
    weights = [w * np.float32(0.5) for w in model.get_weights()]
    model.set_weights([np.array(w.tolist(), dtype=object) for w in weights])
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    bad = [np.array(w.tolist(), dtype=object) for w in weights]
    bad[0].flat[0] = "x"
    with pytest.raises(TypeError, match=r"weights\[0\]"):
        model.set_weights(bad)


# --- the learning rate the trainer applies: Keras's compiled train step ----------------------


@pytest.mark.parametrize(
    ("run_eagerly", "jit_compile", "mode"),
    [
        (False, "auto", "graph"),
        (False, False, "graph"),
        (False, True, "xla"),
        (True, False, "eager"),
    ],
)
def test_compile_chooses_the_mode_keras_would_run_in(
    run_eagerly: bool, jit_compile: object, mode: str
) -> None:
    from refimpl import layers
    from refimpl.models import Sequential

    model = Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(
        "sgd", "categorical_crossentropy", run_eagerly=run_eagerly, jit_compile=jit_compile
    )
    assert model.learning_rate_mode == mode


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"run_eagerly": True, "jit_compile": True}, ValueError),
        ({"jit_compile": "yes"}, ValueError),
        ({"run_eagerly": "no"}, TypeError),
    ],
)
def test_compile_refuses_bad_modes_naming_them(kwargs: dict, error: type) -> None:
    from refimpl import layers
    from refimpl.models import Sequential

    model = Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    with pytest.raises(error, match=next(iter(kwargs))):
        model.compile("sgd", "categorical_crossentropy", **kwargs)


def test_fit_applies_the_compiled_modes_rate_and_reports_the_mode() -> None:
    """ExponentialDecay(staircase) with decay_steps=61: compiled Keras divides by
    multiplying with fl(1/61), and fl(61 * fl(1/61)) < 1, so update 61 still uses the
    first stair, 1.0; eagerly it is 0.5.  A one-weight model whose gradient is 1 shows
    the applied rate: each update moves the weight by exactly the rate."""
    from refimpl.losses import Loss
    from refimpl.optimizers import SGD
    from refimpl.schedules import ExponentialDecay

    class Identity(Loss):  # loss = sum of the outputs: gradient 1 per output
        name = "identity_sum"

    moves = {}
    for mode in ("graph", "eager"):
        from refimpl.models import learning_rate_of_step

        sgd = SGD(ExponentialDecay(1.0, 61, 0.5, staircase=True))
        moves[mode] = [float(learning_rate_of_step(sgd, k, mode)) for k in (60, 61, 62)]
    assert moves["graph"] == [1.0, 1.0, 0.5]
    assert moves["eager"] == [1.0, 0.5, 0.5]
