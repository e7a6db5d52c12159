"""How far torch's recursion strays from its documented closed form, per scheduler.

    .venv/bin/python benchmarks/torch_closed_form.py

For each scheduler of ``refimpl.torch.lr_scheduler`` in one representative
configuration (base rate 0.1), over its horizon of optimizer steps, this compares what
torch applies -- ``scheduler(steps)``, the replay of torch's recursion, proven equal to
torch 2.13.0 bit for bit by the parity tests -- with the closed form torch documents
(``scheduler.exact(steps)``, float64), for a Python-float rate (float64) and a float32
tensor rate (``np.float32(0.1)``; the closed form then starts from that float32 value).

Columns: the largest relative difference and the largest difference in ulps (of the
rate's dtype, at the closed form's value), both over the steps where the closed form is
at least 1e-3 of the base rate (at a rate of 0 a relative error means nothing), with
the step where the relative one occurs.  Pure NumPy: no torch needed.  The README's
table is this output (``tests/test_torch_readme.py`` keeps them in step).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl.torch.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    SequentialLR,
    StepLR,
)

#: (label, factory of the scheduler on a base rate, steps).
CASES: list[tuple[str, Callable[[Any], LRScheduler], int]] = [
    ("StepLR(step_size=30, gamma=0.1)", lambda lr: StepLR(lr, 30, 0.1), 300),
    (
        "MultiStepLR([30k, 60k, 90k], gamma=0.1)",
        lambda lr: MultiStepLR(lr, [30_000, 60_000, 90_000]),
        100_000,
    ),
    ("ConstantLR(factor=1/3, total_iters=5)", lambda lr: ConstantLR(lr), 10),
    (
        "LinearLR(start_factor=0.001, total_iters=1000)",
        lambda lr: LinearLR(lr, 0.001, 1.0, 1000),
        2_000,
    ),
    ("ExponentialLR(gamma=0.9999)", lambda lr: ExponentialLR(lr, 0.9999), 100_000),
    ("CosineAnnealingLR(T_max=100k)", lambda lr: CosineAnnealingLR(lr, 100_000), 100_000),
    (
        "CosineAnnealingLR(T_max=1000, eta_min=1e-4), 3 periods",
        lambda lr: CosineAnnealingLR(lr, 1000, 1e-4),
        3_000,
    ),
    (
        "CosineAnnealingWarmRestarts(T_0=1000, T_mult=2)",
        lambda lr: CosineAnnealingWarmRestarts(lr, 1000, 2),
        63_000,
    ),
    (
        "PolynomialLR(total_iters=100k, power=0.9)",
        lambda lr: PolynomialLR(lr, 100_000, 0.9),
        100_000,
    ),
    ("LambdaLR(0.9999 ** epoch)", lambda lr: LambdaLR(lr, lambda e: 0.9999**e), 100_000),
    ("MultiplicativeLR(0.9999)", lambda lr: MultiplicativeLR(lr, lambda e: 0.9999), 100_000),
    ("OneCycleLR(max_lr=0.1, total_steps=100k)", lambda lr: OneCycleLR(lr, 0.1, 100_000), 100_001),
    (
        "SequentialLR([LinearLR(0.01, 1000), CosineAnnealingLR(99k)], [1000])",
        lambda lr: SequentialLR(
            lr, [LinearLR(lr, 0.01, 1.0, 1000), CosineAnnealingLR(lr, 99_000)], [1000]
        ),
        100_000,
    ),
    (
        "ChainedScheduler([CosineAnnealingLR(100, eta_min=1e-3), ExponentialLR(0.99)])",
        lambda lr: ChainedScheduler([CosineAnnealingLR(lr, 100, 1e-3), ExponentialLR(lr, 0.99)]),
        100,
    ),
]


def distance(scheduler: LRScheduler, n: int) -> tuple[float, int, float]:
    """(largest relative difference, its step, largest ulp difference) of the replay
    from the closed form, where the closed form is >= 1e-3 of the base rate."""
    steps = np.arange(n)
    replay = scheduler(steps).astype(np.float64)
    exact = scheduler.exact(steps)
    keep = np.abs(exact) >= 1e-3 * abs(float(scheduler.get_config().get("lr") or 0.1))
    with np.errstate(all="ignore"):
        relative = np.where(keep, np.abs(replay - exact) / np.abs(exact), 0.0)
        ulp = np.spacing(np.abs(exact).astype(scheduler.dtype)).astype(np.float64)
        ulps = np.where(keep, np.abs(replay - exact) / ulp, 0.0)
    at = int(np.argmax(relative))
    return float(relative[at]), at, float(ulps.max())


def _cell(relative: float, at: int, ulps: float) -> str:
    if relative == 0:
        return "0 | 0"
    count = "<1" if ulps < 1 else f"{ulps:.2g}" if ulps >= 1e6 else f"{ulps:,.0f}"
    return f"{relative:.2g} (step {at:,}) | {count}"


def rows() -> list[str]:
    """The README table's rows (markdown)."""
    out = [
        "| scheduler | steps | float64: max relative | float64: max ulp "
        "| float32 tensor: max relative | float32 tensor: max ulp |",
        "|---|---:|---|---:|---|---:|",
    ]
    for label, make, n in CASES:
        f64 = _cell(*distance(make(0.1), n))
        f32 = _cell(*distance(make(np.float32(0.1)), n))
        out.append(f"| {label} | {n:,} | {f64} | {f32} |")
    return out


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print("\n".join(rows()))


if __name__ == "__main__":
    main()
