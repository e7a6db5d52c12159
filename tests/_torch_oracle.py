"""The oracle of the torch parity tests: torch's own schedulers driving a real
``torch.optim.SGD`` on one parameter.

The rate torch *applies* at update ``i`` is read from the parameter itself: with the
parameter set to 0 and its gradient to 1 before ``optimizer.step()``, SGD (momentum 0)
leaves ``-lr`` in it (float64 parameter: exact for a float and a float32 tensor rate);
it is also checked against ``param_groups[0]["lr"]``.  Nothing here is copied from
refimpl's output.  Loaded by the test modules with ``load_oracle()``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler as L

from refimpl.testing import build_torch_scheduler, torch_edge_steps
from refimpl.torch.lr_scheduler import LRScheduler

#: The most steps a parity example runs (torch: ~35 us per step with the optimizer).
MAX_STEPS = 400


def torch_optimizer(lr: Any, momentum: float = 0.0) -> torch.optim.SGD:
    """SGD on one float64 parameter; a ``np.float32`` rate becomes a float32 tensor."""
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    rate = torch.tensor(float(lr), dtype=torch.float32) if type(lr) is np.float32 else lr
    return torch.optim.SGD([param], lr=rate, momentum=momentum)


def to_torch(ours: LRScheduler, optimizer: torch.optim.Optimizer) -> Any:
    """torch's scheduler with our scheduler's constructor arguments, on ``optimizer``
    (children first, in order, as torch code builds them)."""
    name = type(ours).__name__
    config = ours.get_config()
    if name == "SequentialLR":
        children = [to_torch(child, optimizer) for child in config["schedulers"]]
        return L.SequentialLR(optimizer, children, config["milestones"], config["last_epoch"])
    if name == "ChainedScheduler":
        return L.ChainedScheduler([to_torch(c, optimizer) for c in config["schedulers"]], optimizer)
    kwargs = {k: v for k, v in config.items() if k != "lr"}
    return getattr(L, name)(optimizer, **kwargs)


def as_float(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


class TorchRun:
    """One run of torch's scheduler: the rate applied at each of ``n`` updates, the
    momentum, ``get_last_lr()`` after each step, and the final scheduler."""

    def __init__(self, ours: LRScheduler, n: int, *, edit: dict[int, Any] | None = None) -> None:
        optimizer = torch_optimizer(ours._lr0)
        self.scheduler = to_torch(ours, optimizer)
        self.optimizer = optimizer
        group = optimizer.param_groups[0]
        (param,) = group["params"]
        dtype = ours.dtype
        self.rates = np.empty(n, dtype)
        self.last_lr = np.empty(n, dtype)
        self.momentum = np.empty(n, np.float64)
        for i in range(n):
            if edit and i in edit:  # a hand edit of the rate before update i
                set_rate(group, edit[i])
            self.rates[i] = as_float(group["lr"])
            self.momentum[i] = group.get("momentum", math.nan)
            self.last_lr[i] = as_float(self.scheduler.get_last_lr()[0])
            with torch.no_grad():
                param.zero_()
            param.grad = torch.ones_like(param)
            optimizer.step()
            if group.get("momentum", 0) == 0:
                applied = -param.item()
                assert applied == as_float(group["lr"]), (i, applied, group["lr"])
            if i < n - 1:
                self.scheduler.step()


def set_rate(group: dict[str, Any], value: Any) -> None:
    """A hand edit as a torch user makes it: ``fill_`` a tensor rate, assign a float."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(float(value))
    else:
        group["lr"] = value


def bits(values: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(values)
    return arr.view({4: np.uint32, 8: np.uint64}[arr.dtype.itemsize])


def assert_bit_equal(got: Any, want: np.ndarray, what: str) -> None:
    """``got`` and ``want`` are the same floats, bit for bit (dtype included)."""
    got = np.asarray(got)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    bad = np.flatnonzero(bits(got) != bits(want))
    if bad.size:
        i = int(bad[0])
        raise AssertionError(
            f"{what}: differs from torch at step {i}: {got[i]!r} vs torch {want[i]!r} "
            f"({bad.size} of {want.size} steps differ)"
        )


def normalize(value: Any) -> Any:
    """A state-dict value in comparable form: tensors and NumPy scalars as floats,
    Counters as dicts, containers element by element."""
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype).replace("torch.", ""), value.item())
    if isinstance(value, (np.float32, np.float64)):
        return ("tensor", np.dtype(type(value)).name, float(value))
    if isinstance(value, Counter):
        return {"Counter": dict(value)}
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(normalize(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def assert_same_state(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys and values as torch's ``state_dict()``."""
    assert set(ours) == set(theirs), sorted(set(ours) ^ set(theirs))
    for key in theirs:
        assert normalize(ours[key]) == normalize(theirs[key]), (key, ours[key], theirs[key])


def horizon(name: str, config: dict[str, Any], extra: int) -> int:
    """Steps to run: past the last edge step (and ``extra`` more), at most MAX_STEPS;
    OneCycleLR up to its last allowed step."""
    n = max(torch_edge_steps(name, config)) + 1 + extra
    if name == "OneCycleLR":
        return min(n, config["total_steps"] + 1)
    return min(n, MAX_STEPS)


def check_parity(name: str, config: dict[str, Any], lr: Any, extra: int = 0) -> None:
    """refimpl's replay (vectorised and loop), twin and state against torch, bit for bit."""
    ours = build_torch_scheduler(name, config, lr)
    n = horizon(name, config, extra)
    want = TorchRun(ours, n)
    assert_bit_equal(ours(np.arange(n)), want.rates, f"{name} replay")
    assert_bit_equal(ours.loop_replay(n), want.rates, f"{name} loop replay")
    twin = ours.fresh()
    last = np.empty(n, ours.dtype)
    momentum = np.empty(n, np.float64)
    group = twin.optimizer.param_groups[0]
    for i in range(n):
        last[i] = twin.get_last_lr()[0]
        momentum[i] = group.get("momentum", math.nan)
        if i < n - 1:
            twin.step()
    assert_bit_equal(last, want.rates, f"{name} twin get_last_lr()")
    assert_bit_equal(want.last_lr, want.rates, "torch's own get_last_lr()")
    np.testing.assert_array_equal(momentum, want.momentum)
    assert_same_state(twin.state_dict(), want.scheduler.state_dict())


def twin_rates(ours: LRScheduler, n: int, *, edit: dict[int, Any] | None = None) -> np.ndarray:
    """What ``TorchRun`` records, from refimpl's twin (hand edits as ``TorchRun``'s:
    the rate's type is kept for a tensor rate, replaced by a float otherwise)."""
    twin = ours.fresh()
    group = twin.optimizer.param_groups[0]
    out = np.empty(n, ours.dtype)
    for i in range(n):
        if edit and i in edit:
            group["lr"] = type(group["lr"])(edit[i]) if type(group["lr"]) is np.float32 else edit[i]
        out[i] = group["lr"]
        if i < n - 1:
            twin.step()
    return out


def scheduler_only_rates(ours: LRScheduler, n: int) -> np.ndarray:
    """torch's rates over ``n`` steps of the scheduler alone (the optimizer steps once,
    first): ~3x faster than ``TorchRun`` for the long drift measurements."""
    optimizer = torch_optimizer(ours._lr0)
    scheduler = to_torch(ours, optimizer)
    group = optimizer.param_groups[0]
    optimizer.step()
    out = np.empty(n, ours.dtype)
    for i in range(n):
        out[i] = as_float(group["lr"])
        if i < n - 1:
            scheduler.step()
    return out


def from_torch(value: Any) -> Any:
    """A torch state value as refimpl holds it: a 0-d float32 tensor as ``np.float32``."""
    if isinstance(value, torch.Tensor):
        return np.float32(value.item()) if value.dtype == torch.float32 else value.item()
    if isinstance(value, dict) and not isinstance(value, Counter):
        return {k: from_torch(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_torch(v) for v in value]
    if isinstance(value, tuple):
        return tuple(from_torch(v) for v in value)
    return value


def assert_same_error(make_torch: Any, make_ours: Any) -> BaseException:
    """refimpl raises torch's exception type with torch's message (returned)."""
    import re

    import pytest

    try:
        make_torch()
    except Exception as exc:
        expected = exc
    else:
        raise AssertionError("torch accepted the arguments")
    with pytest.raises(type(expected), match=f"^{re.escape(str(expected))}$"):
        make_ours()
    return expected
