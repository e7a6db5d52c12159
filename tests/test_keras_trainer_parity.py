""" "Exactly Keras": the lesson's model trained step for step by Keras 3 and by refimpl.

Keras builds the model (seed 0); its initial weights are copied into ours; both train
without shuffling on the same slice of synthetic, image-like uint8 data (raw 0-255, as
the lesson feeds it) for several epochs with a schedule, momentum and a partial last
batch.  After every epoch the weights and the epoch loss must agree to float32
accuracy: relative error <= 1e-3 (the measured figure is printed; run with ``-s``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.tf, pytest.mark.slow]

N, BATCH, EPOCHS = 1000, 64, 4  # 16 steps an epoch (last batch 40): 64 steps in all
RTOL = 1e-3


def _data() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST-like uint8 images: a bright disc per class on a black background,
    with noise inside the object, and 10% of the labels replaced at random so the loss
    stays away from zero for the whole run."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, N)
    yy, xx = np.mgrid[0:28, 0:28]
    base = np.zeros((10, 28, 28))
    for c in range(10):
        cy, cx, r = rng.integers(8, 20), rng.integers(8, 20), rng.integers(5, 10)
        base[c] = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, rng.integers(100, 256), 0)
    noise = rng.integers(-60, 61, (N, 28, 28)) * (base[labels] > 0)
    x = np.clip(base[labels] + noise, 0, 255).astype(np.uint8)[..., None]
    flip = rng.random(N) < 0.1
    labels[flip] = rng.integers(0, 10, int(flip.sum()))
    return x, labels


def _keras_model(keras):  # type: ignore[no-untyped-def]
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(filters=32, kernel_size=(3, 3), padding="same", activation="relu"),
            layers.Conv2D(filters=16, kernel_size=(3, 3), padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def _ours():  # type: ignore[no-untyped-def]
    from refimpl import Sequential, layers

    return Sequential(
        [
            layers.Conv2D(32, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize(
    ("schedule_name", "momentum", "nesterov"),
    [("ExponentialDecay", 0.5, False), ("PiecewiseConstantDecay", 0.5, True)],
)
def test_lesson_model_matches_keras_step_for_step(
    schedule_name: str, momentum: float, nesterov: bool
) -> None:
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    import refimpl.schedules as ours_schedules
    from refimpl.optimizers import SGD
    from refimpl.utils import to_categorical

    x, labels = _data()
    y = to_categorical(labels, 10)
    if schedule_name == "ExponentialDecay":
        args: tuple = (0.0002, 10, 0.9)
        kwargs: dict = {"staircase": False}
    else:
        args, kwargs = (), {"boundaries": [20, 40], "values": [0.0002, 0.0001, 0.00005]}
    k_sched = getattr(keras.optimizers.schedules, schedule_name)(*args, **kwargs)
    o_sched = getattr(ours_schedules, schedule_name)(*args, **kwargs)

    keras.utils.set_random_seed(0)
    km = _keras_model(keras)
    km.compile(
        optimizer=keras.optimizers.SGD(learning_rate=k_sched, momentum=momentum, nesterov=nesterov),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    om = _ours()
    om.set_weights(km.get_weights())
    om.compile(
        optimizer=SGD(learning_rate=o_sched, momentum=momentum, nesterov=nesterov),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    worst_w, worst_loss = 0.0, 0.0
    for epoch in range(EPOCHS):
        kh = km.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        oh = om.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        loss_err = abs(oh.history["loss"][0] - kh.history["loss"][0]) / abs(kh.history["loss"][0])
        w_err = max(_rel(o, k) for o, k in zip(om.get_weights(), km.get_weights(), strict=True))
        worst_w, worst_loss = max(worst_w, w_err), max(worst_loss, loss_err)
        print(
            f"{schedule_name} epoch {epoch + 1}: keras loss {kh.history['loss'][0]:.6f}, "
            f"ours {oh.history['loss'][0]:.6f}, loss rel err {loss_err:.2e}, "
            f"weights max rel err {w_err:.2e}"
        )
        assert om.optimizer.iterations == int(km.optimizer.iterations.numpy())
        assert loss_err <= RTOL
        assert w_err <= RTOL
    steps = om.optimizer.iterations
    assert steps >= 60
    assert float(om.optimizer.learning_rate) == pytest.approx(
        float(km.optimizer.learning_rate.numpy()), rel=1e-6
    )
    print(
        f"PARITY {schedule_name}: {steps} steps, worst weight rel err {worst_w:.2e}, "
        f"worst epoch-loss rel err {worst_loss:.2e}"
    )
