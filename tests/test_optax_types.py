"""refimpl.optax._types: JAX's dtypes of an Optax schedule (the promotion rules, measured
against JAX in ``test_optax_jax_namespace.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.optax._types import EXACT, JaxType, JaxTypes, join

F32, F64, I32, I64 = (np.dtype(t) for t in ("float32", "float64", "int32", "int64"))


def test_defaults_are_optaxs_int32_count_without_x64() -> None:
    types = JaxTypes()
    assert (types.default_float, types.default_int, types.quotient) == (F32, I32, F32)


def test_x64_widens_python_floats_but_not_an_int32_quotient() -> None:
    types = JaxTypes(x64=True)
    assert (types.default_float, types.default_int, types.quotient) == (F64, I64, F32)
    assert JaxTypes(x64=True, count=I64).quotient == F64


def test_exact_is_float64_throughout() -> None:
    assert (EXACT.default_float, EXACT.quotient) == (F64, F64)


@pytest.mark.parametrize("count", ["int16", "float32"])
def test_counts_are_int32_or_int64(count) -> None:
    with pytest.raises(ValueError, match="count_dtype"):
        JaxTypes(count=np.dtype(count))


@pytest.mark.parametrize(
    ("a", "b", "joined"),
    [
        (JaxType(F32, False), JaxType(F64, True), JaxType(F32, False)),  # strong wins
        (JaxType(F64, True), JaxType(F32, False), JaxType(F32, False)),
        (JaxType(F32, False), JaxType(F64, False), JaxType(F64, False)),  # wider
        (JaxType(F32, True), JaxType(F32, True), JaxType(F32, True)),
        (JaxType(I32, True), JaxType(F32, False), JaxType(F32, False)),  # int meets float
        (JaxType(I32, False), JaxType(F64, True), JaxType(F64, True)),
    ],
)
def test_join_is_jax_promotion(a, b, joined) -> None:
    assert join(a, b) == joined
    assert join(b, a) == joined
