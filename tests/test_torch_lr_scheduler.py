"""refimpl.torch.lr_scheduler as a whole: torch's names and signatures, hand edits and
resuming from a torch checkpoint for every scheduler, the call API, closed forms on
``keras.ops``."""

from __future__ import annotations

import copy
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.testing import (
    TORCH_SCHEDULER_NAMES,
    build_torch_scheduler,
    torch_base_rates,
    torch_scheduler_configs,
)
from refimpl.torch import lr_scheduler
from refimpl.torch.lr_scheduler import SCHEDULERS, ExponentialLR, Optimizer, StepLR

torch = pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location(
    "_torch_oracle", Path(__file__).with_name("_torch_oracle.py")
)
oracle = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(oracle)  # type: ignore[union-attr]

KINDS = [float, np.float32]


def test_every_scheduler_of_torch_but_cyclic_lr() -> None:
    assert set(SCHEDULERS) == set(torch.optim.lr_scheduler.__all__) - {"CyclicLR", "LRScheduler"}
    assert lr_scheduler.LRScheduler is not None


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_signature_is_torchs_with_the_rate_in_the_optimizers_place(name) -> None:
    ours = list(inspect.signature(SCHEDULERS[name].__init__).parameters.values())[1:]
    theirs = list(
        inspect.signature(getattr(torch.optim.lr_scheduler, name).__init__).parameters.values()
    )[1:]
    rename = {"optimizer": "lr"}
    assert [p.name for p in ours] == [rename.get(p.name, p.name) for p in theirs]
    assert [p.default for p in ours] == [p.default for p in theirs]
    assert [p.kind for p in ours] == [p.kind for p in theirs]


@pytest.mark.parametrize("name", TORCH_SCHEDULER_NAMES)
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=8)
@given(data=st.data())
def test_hand_edits_persist_as_in_torch(name, kind, data) -> None:
    """``group["lr"] = x`` between steps: recursive schedulers carry it on, the others
    overwrite it at the next step -- in refimpl's twin exactly as in torch."""
    config = data.draw(torch_scheduler_configs(name), label="config")
    ours = build_torch_scheduler(name, config, kind(data.draw(torch_base_rates(), label="lr")))
    n = oracle.horizon(name, config, 10)
    edits = data.draw(
        st.dictionaries(st.integers(0, n - 1), torch_base_rates(), max_size=3), label="edits"
    )
    theirs = oracle.TorchRun(ours, n, edit=edits).rates
    oracle.assert_bit_equal(oracle.twin_rates(ours, n, edit=edits), theirs, f"{name} edited")


@pytest.mark.parametrize("name", TORCH_SCHEDULER_NAMES)
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=8)
@given(data=st.data())
def test_resume_from_a_torch_checkpoint(name, kind, data) -> None:
    """A torch run checkpointed after ``k`` steps (the optimizer's param group and the
    scheduler's ``state_dict()``), loaded into a freshly built twin, continues as
    torch's own run does, bit for bit."""
    config = data.draw(torch_scheduler_configs(name), label="config")
    ours = build_torch_scheduler(name, config, kind(data.draw(torch_base_rates(), label="lr")))
    n = oracle.horizon(name, config, 10)
    k = data.draw(st.integers(0, n - 1), label="k")
    optimizer = oracle.torch_optimizer(ours._lr0)
    theirs = oracle.to_torch(ours, optimizer)
    for _ in range(k):
        optimizer.step()
        theirs.step()
    group = {key: v for key, v in optimizer.param_groups[0].items() if key != "params"}
    twin = ours.fresh()
    twin.optimizer.load_state_dict({"param_groups": [oracle.from_torch(copy.deepcopy(group))]})
    twin.load_state_dict(oracle.from_torch(copy.deepcopy(theirs.state_dict())))
    for step in range(k + 1, n):
        optimizer.step()
        theirs.step()
        twin.step()
        want = np.array([oracle.as_float(optimizer.param_groups[0]["lr"])], ours.dtype)
        oracle.assert_bit_equal(
            np.array([twin.optimizer.param_groups[0]["lr"]]), want, f"step {step}"
        )


def test_resume_through_the_constructor_with_last_epoch() -> None:
    """torch's other resume path: the optimizer holds ``initial_lr`` and the rate of the
    last step, the scheduler is built with ``last_epoch``."""
    for make_ours, make_theirs in (
        (
            lambda o: StepLR(o, 3, 0.5, last_epoch=5),
            lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5, 5),
        ),
        (
            lambda o: lr_scheduler.CosineAnnealingLR(o, 10, 0.01, last_epoch=4),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01, 4),
        ),
    ):
        optimizer = oracle.torch_optimizer(0.07)
        optimizer.param_groups[0]["initial_lr"] = 0.1
        theirs = make_theirs(optimizer)
        ours = make_ours(Optimizer(0.07, initial_lr=0.1))
        optimizer.step()
        for _ in range(12):
            assert ours.get_last_lr() == theirs.get_last_lr()
            theirs.step()
            ours.step()
    with pytest.raises(KeyError, match=r"initial_lr.*last_epoch=5.*Optimizer\(lr="):
        StepLR(0.1, 3, last_epoch=5)


def test_get_last_lr_after_n_steps_is_the_rate_of_update_n() -> None:
    run = oracle.TorchRun(ExponentialLR(0.1, 0.5), 4)
    assert run.last_lr.tolist() == run.rates.tolist() == [0.1, 0.05, 0.025, 0.0125]


def test_call_takes_steps_in_any_shape() -> None:
    scheduler = StepLR(0.1, 2, 0.5)
    assert scheduler(3).shape == ()
    assert scheduler(np.array([[0, 3]])).shape == (1, 2)
    assert scheduler(np.arange(4.0)).tolist() == scheduler(np.arange(4)).tolist()
    assert scheduler([]).shape == (0,)
    assert StepLR(np.float32(0.1), 2)([0]).dtype == np.float32
    for bad, error in ((-1, ValueError), (1.5, ValueError), ("1", TypeError), (True, TypeError)):
        with pytest.raises(error, match="step"):
            scheduler(bad)
    with pytest.raises(TypeError, match="step"):
        scheduler.exact("1")


def test_a_scheduler_is_a_pure_function_of_its_arguments() -> None:
    """Calling it replays a fresh run: its own ``step()`` and hand edits do not change it."""
    scheduler = ExponentialLR(0.1, 0.5)
    before = scheduler(np.arange(5))
    scheduler.step()
    scheduler.optimizer.param_groups[0]["lr"] = 7.0
    assert scheduler(np.arange(5)).tolist() == before.tolist()
    assert repr(scheduler) == "ExponentialLR(lr=0.1, gamma=0.5, last_epoch=-1)"


def test_get_lr_outside_step_warns_as_torch() -> None:
    with pytest.warns(UserWarning, match="get_last_lr"):
        StepLR(0.1, 2).get_lr()


@pytest.mark.tf
@pytest.mark.parametrize("name", TORCH_SCHEDULER_NAMES)
@settings(max_examples=3)
@given(data=st.data())
def test_closed_forms_run_on_keras_ops(name, data) -> None:
    """The formulas are written over an array namespace: ``keras.ops`` (TensorFlow) in
    float64 computes what NumPy does (LambdaLR/MultiplicativeLR call user code: NumPy)."""
    keras = pytest.importorskip("keras")
    config = data.draw(torch_scheduler_configs(name), label="config")
    ours = build_torch_scheduler(name, config, 0.1)
    steps = np.arange(oracle.horizon(name, config, 5), dtype=np.float64)
    want = ours.closed_form(steps)
    if any(
        isinstance(v, (lr_scheduler.LambdaLR, lr_scheduler.MultiplicativeLR)) for v in _leaves(ours)
    ):
        return
    got = keras.ops.convert_to_numpy(
        ours.closed_form(keras.ops.convert_to_tensor(steps), xp=keras.ops)
    )
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)


def _leaves(scheduler):
    yield scheduler
    for child in getattr(scheduler, "_schedulers", []):
        yield from _leaves(child)
