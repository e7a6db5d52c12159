"""benchmarks/optax_jit.py: the README's table is its output, row for row.

The jitted and un-jitted values it compares are proven equal to Optax's bit for bit by
the parity tests, so this NumPy-only computation is what ``jax.jit`` changes in Optax;
one row (the late stair) is checked against JAX itself here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("optax_jit", ROOT / "benchmarks" / "optax_jit.py")
script = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(script)  # type: ignore[union-attr]

START = "<!-- optax-jit-table: the output of benchmarks/optax_jit.py -->"
END = "<!-- end of optax-jit-table -->"


def test_readme_table_is_the_scripts_output() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(START, 1)[1].split(END, 1)[0].strip().splitlines()
    assert table == script.rows()


def test_the_table_covers_every_optax_function() -> None:
    from refimpl.optax import FUNCTIONS

    covered = {label.split("(", 1)[0] for label, _, _ in script.CASES}
    assert covered == set(FUNCTIONS)


def test_the_late_stair_row_holds_in_jax() -> None:
    """exponential_decay(0.1, 61, 0.5, staircase=True): jitted and un-jitted Optax part
    at as many counts as the table says, all multiples of 61 (late stairs), measured in
    JAX."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jnp = jax.numpy
    schedule = optax.exponential_decay(0.1, 61, 0.5, staircase=True)
    counts = np.arange(1000)
    jitted = jax.jit(schedule)
    jit = np.array([np.asarray(jitted(jnp.int32(c))) for c in counts])
    eager = np.array([np.asarray(schedule(jnp.int32(c))) for c in counts])
    apart = np.flatnonzero(jit != eager)
    assert apart.size > 0
    assert all(c % 61 == 0 for c in apart)  # the late stairs, nothing else
    label, mine, n = next(case for case in script.CASES if "staircase" in case[0])
    assert (label, n) == ("exponential_decay(0.1, 61, 0.5, staircase=True)", 1000)
    assert script.measure(mine, n)[0] == apart.size
