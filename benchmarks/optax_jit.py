"""What ``jax.jit`` does to Optax's schedules: jitted against un-jitted and the formula.

    .venv/bin/python benchmarks/optax_jit.py

For each of Optax 0.2.8's schedule functions in one representative configuration, over
its horizon of int32 counts (x64 off, Optax's default), this compares what Optax gives
under ``jax.jit`` -- ``schedule(counts)``, refimpl.optax's model of jaxlib 0.10.2's XLA,
proven equal to Optax bit for bit by the parity tests (``tests/test_optax_parity.py``)
-- with the un-jitted value (``mode="eager"``, equally proven) and with the float64 true
math of the formula Optax documents (``schedule.exact(counts)``).

Columns: the counts where jit and eager differ (how many, and the largest difference in
float32 ulps), and the largest relative difference of jit from the formula (with the
count where it occurs) and in float32 ulps, over the counts where the formula is at
least 1e-3 of its largest value (at a rate of 0 a relative error means nothing).  Pure
NumPy: no JAX needed.  The README's table is this output
(``tests/test_benchmarks_optax_jit.py`` keeps them in step).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from refimpl import optax

#: (label, schedule, counts).
CASES: list[tuple[str, Any, int]] = [
    ("constant_schedule(0.1)", optax.constant_schedule(0.1), 1_000),
    ("linear_schedule(0.1, 0.001, 10k)", optax.linear_schedule(0.1, 0.001, 10_000), 10_001),
    (
        "polynomial_schedule(0.1, 0.001, power=2, 10k)",
        optax.polynomial_schedule(0.1, 0.001, 2.0, 10_000),
        10_001,
    ),
    ("exponential_decay(0.1, 1000, 0.5)", optax.exponential_decay(0.1, 1000, 0.5), 10_000),
    (
        "exponential_decay(0.1, 61, 0.5, staircase=True)",
        optax.exponential_decay(0.1, 61, 0.5, staircase=True),
        1_000,
    ),
    ("cosine_decay_schedule(0.1, 10k)", optax.cosine_decay_schedule(0.1, 10_000), 10_001),
    (
        "piecewise_constant_schedule(0.1, {3k: 0.1, 6k: 0.1})",
        optax.piecewise_constant_schedule(0.1, {3000: 0.1, 6000: 0.1}),
        10_000,
    ),
    (
        'piecewise_interpolate_schedule("cosine", 0.1, {1k: 0.5, 5k: 0.1})',
        optax.piecewise_interpolate_schedule("cosine", 0.1, {1000: 0.5, 5000: 0.1}),
        6_000,
    ),
    ("linear_onecycle_schedule(10k, 0.1)", optax.linear_onecycle_schedule(10_000, 0.1), 10_001),
    ("cosine_onecycle_schedule(10k, 0.1)", optax.cosine_onecycle_schedule(10_000, 0.1), 10_001),
    (
        "warmup_cosine_decay_schedule(0, 0.1, 1k, 10k)",
        optax.warmup_cosine_decay_schedule(0.0, 0.1, 1000, 10_000),
        10_001,
    ),
    (
        "warmup_exponential_decay_schedule(0, 0.1, 1k, 1k, 0.5)",
        optax.warmup_exponential_decay_schedule(0.0, 0.1, 1000, 1000, 0.5),
        10_000,
    ),
    (
        "sgdr_schedule(3 x (0, 0.1, 100, 1k))",
        optax.sgdr_schedule(
            [
                {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 100, "decay_steps": 1000},
            ]
            * 3
        ),
        3_000,
    ),
    (
        "join_schedules([linear 0.1->0.01 / 1k, cosine 0.01 / 9k], [1k])",
        optax.join_schedules(
            [optax.linear_schedule(0.1, 0.01, 1000), optax.cosine_decay_schedule(0.01, 9000)],
            [1000],
        ),
        10_001,
    ),
]


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| in float32 ulps of b."""
    spacing = np.spacing(np.abs(b).astype(np.float32)).astype(np.float64)
    return np.abs(a.astype(np.float64) - b.astype(np.float64)) / spacing


def measure(schedule: Any, n: int) -> tuple[int, float, float, int, float]:
    """(counts where jit != eager, their largest ulp distance, largest relative distance
    of jit from the formula, its count, largest ulp distance from the formula)."""
    counts = np.arange(n)
    jit = np.asarray(schedule(counts), np.float32)
    eager = np.asarray(schedule(counts, mode="eager"), np.float32)
    exact = schedule.exact(counts)
    apart = jit != eager
    apart_ulps = float(_ulps(jit, eager.astype(np.float32))[apart].max()) if apart.any() else 0.0
    keep = np.abs(exact) >= 1e-3 * np.max(np.abs(exact))
    with np.errstate(all="ignore"):
        relative = np.where(keep, np.abs(jit - exact) / np.abs(exact), 0.0)
        ulps = np.where(keep, _ulps(jit, exact), 0.0)
    at = int(np.argmax(relative))
    return int(apart.sum()), apart_ulps, float(relative[at]), at, float(ulps.max())


def _ulp_text(ulps: float) -> str:
    return "0" if ulps == 0 else "<1" if ulps < 1 else f"{ulps:,.0f}"


def rows() -> list[str]:
    """The README table's rows (markdown)."""
    out = [
        "| schedule | counts | jit != eager: counts | jit != eager: max ulp "
        "| jit vs formula: max relative | jit vs formula: max ulp |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for label, schedule, n in CASES:
        apart, apart_ulps, relative, at, ulps = measure(schedule, n)
        rel = "0" if relative == 0 else f"{relative:.2g} (count {at:,})"
        out.append(
            f"| {label} | {n:,} | {apart:,} | {_ulp_text(apart_ulps)} | {rel} | {_ulp_text(ulps)} |"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    print("\n".join(rows()))


if __name__ == "__main__":
    main()
