"""Comparing a schedule's values with the reference's: ulp distance, bounds, tolerances.

The pure-NumPy half of :mod:`refimpl.testing` (which adds Hypothesis strategies on
top): :func:`ulp_distance` counts the representable values between two numbers,
:func:`within_bounds` is the one rule every comparison in the project applies (``ulps``
of the reference, plus an absolute forward-error bound where a formula cancels), and
:func:`tolerance` gives refimpl's documented bound against TensorFlow for a schedule.

Imports NumPy only, so the command line (``lr-refimpl table``) and a plain install use
it without the ``test`` extra.  :mod:`refimpl.testing` re-exports every name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["tolerance", "ulp_distance", "within_bounds"]

# --- documented accuracy against TensorFlow ------------------------------------------------

#: Half of float32's machine epsilon: the relative rounding error of one float32 operation.
_HALF_EPS_FLOAT32 = 2.0**-24
_EXACT = frozenset({"PiecewiseConstantDecay", "InverseTimeDecay", "TimeBasedDecay"})
#: Largest |z| of refimpl's counter-based normal draw (24-bit uniforms): sqrt(-2 ln 2**-25).
_MAX_NORMAL = math.sqrt(-2.0 * math.log(2.0**-25))


def _children(name: str, config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def unpack(child: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        child_name = (child.get("registered_name") or child["class_name"]).split(">", 1)[-1]
        return child_name, child["config"]

    if name == "LinearWarmup":
        return [unpack(config["schedule"])]
    if name == "SequentialSchedule":
        return [unpack(c) for c in config["schedules"]]
    if name == "TimeBasedDecay" and isinstance(config["initial_learning_rate"], dict):
        return [unpack(config["initial_learning_rate"])]
    return []


def _half_epsilon(dtype: Any) -> float:
    """Half the machine epsilon of a floating ``dtype`` (anything ``np.dtype`` takes, or
    a TensorFlow ``DType``): ``2**-24`` for float32."""
    if dtype is None:
        raise TypeError("tolerance: dtype must be a floating dtype, not None")
    try:
        resolved = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    except TypeError:
        raise TypeError(
            f"tolerance: dtype must be a NumPy dtype-like (e.g. 'float32', np.float32). "
            f"Received: dtype={dtype!r}"
        ) from None
    if resolved.kind != "f":
        raise ValueError(
            f"tolerance: dtype must be a floating dtype (float16, float32, float64). "
            f"Received: dtype={dtype!r}"
        )
    return float(np.finfo(resolved).eps) / 2


def tolerance(name: str, config: dict[str, Any], dtype: Any) -> tuple[int, Callable[[Any], Any]]:
    """refimpl's documented accuracy against TensorFlow's eager scalar call.

    ``dtype`` is the compute dtype: anything ``np.dtype`` accepts (``"float32"``,
    ``np.float64``, ``np.dtype("float32")``) or a TensorFlow ``DType``.

    Returns ``(ulps, atol)`` for :func:`assert_schedules_match`: a value is within
    bounds when it is at most ``ulps`` ulp from TensorFlow's, or within ``atol(steps)``
    plus ``ulps`` ulp of it.  ``ulps`` is 0 for the formulas without transcendental
    functions, else 2 (the rounding of the result); ``atol`` is the propagated error of
    a transcendental intermediate (0 where there is none).

    Derivation (``u`` is half the dtype's epsilon, ``2**-24`` in float32): TensorFlow's
    ``cos``/``exp``/``pow``/``log`` are within one ulp of refimpl's correctly rounded
    ones, and one ulp of a value ``v`` is at most ``2u * |v|``.  Both then run the
    same operations on values that differ: a product by a common factor scales the
    difference, and rounding two values within ``d`` of each other, both at most ``M``
    in size, leaves them within ``d + 2u * M`` (one ulp of ``M`` more).  So for the
    cosine schedules, from ``|cos' - cos| <= u``: ``1 + cos`` is within ``5u`` (it
    rounds on ``[0, 2]``), ``0.5 * (1 + cos)`` within ``2.5u``, and each later
    product and sum adds its own rounding, up to the factor the result is multiplied
    by last (the learning rate), whose own rounding is the ``ulps``.  Composite
    schedules take the loosest of their children.

    >>> ulps, atol = tolerance("InverseTimeDecay", {"initial_learning_rate": 0.1}, "float32")
    >>> ulps, float(atol(np.array([10]))[0])
    (0, 0.0)
    >>> ulps, atol = tolerance("CosineDecay", {"initial_learning_rate": 1.0}, np.float32)
    >>> ulps, float(atol(np.array([10]))[0] / 2**-24)  # 2.5u + 2u (product) + 2u (sum)
    (2, 6.5)
    """
    u = _half_epsilon(dtype)
    children = _children(name, config)
    if children:
        parts = [tolerance(n, c, dtype) for n, c in children]
        own_ulps = 0 if name in _EXACT else 2
        ulps = max([own_ulps, *(p[0] for p in parts)])
        return ulps, lambda s: np.max([p[1](s) for p in parts], axis=0)
    lr = abs(float(config.get("initial_learning_rate", 0.0)))
    ulps = 0 if name in _EXACT else 2

    def const(value: float) -> Callable[[Any], Any]:
        return lambda s: np.full(np.shape(s), value)

    def rounded(d: Any, size: Any) -> Any:
        """Two values within ``d``, both at most ``size``, after rounding each."""
        return d + 2 * u * size

    half_one_plus_cos = rounded(u, 2.0) / 2  # 0.5 * (1 + cos): 2.5u
    if name == "CosineDecay":
        # lr * ((1 - alpha) * half_one_plus_cos + alpha); warmup_target replaces lr.
        peak = lr if config.get("warmup_target") is None else abs(float(config["warmup_target"]))
        a = float(config.get("alpha", 0.0))
        scaled = rounded(abs(1 - a) * half_one_plus_cos, abs(1 - a))
        return ulps, const(peak * rounded(scaled, abs(1 - a) + abs(a)))
    if name == "CosineDecayRestarts":
        # Past the first period (t_mul != 1) the fraction of the period is
        # f' = (f - (1 - t_i) / (1 - t_mul)) / t_i with t_i = t_mul ** i (one ulp of pow
        # apart; f itself and the index i are the same in both); then
        # lr * ((1 - alpha) * (0.5 * m_fac * (1 + cos(pi * f'))) + alpha), where
        # m_fac = m_mul ** i is one ulp of pow apart too.
        t, m = float(config.get("t_mul", 2.0)), float(config.get("m_mul", 1.0))
        if not t > 0:
            raise ValueError(
                "tolerance: CosineDecayRestarts with t_mul <= 0 (or NaN) has no documented "
                f"bound: Keras computes NaN or nonsense there. Received: t_mul={t!r}"
            )
        a, first = float(config.get("alpha", 0.0)), float(config["first_decay_steps"])

        def restarts(s: Any) -> Any:
            f = np.asarray(s, np.float64) / first
            with np.errstate(all="ignore"):
                i = np.floor(f) if t == 1.0 else np.floor(np.log1p(f * (t - 1)) / math.log(t))
                m_fac = np.nan_to_num(np.abs(m) ** i, nan=1.0, posinf=np.inf)
                d_f: Any = 0.0
                if t != 1.0:
                    t_i = np.abs(t) ** i
                    one_minus = rounded(2 * u * t_i, np.abs(1 - t_i))
                    sum_r = rounded(one_minus / abs(1 - t), np.abs(1 - t_i) / abs(1 - t))
                    numerator = rounded(sum_r, t_i)  # f - sum_r, at most t_i
                    d_f = np.nan_to_num(rounded(numerator / t_i + 2 * u, 1.0), nan=np.inf)
                d_cos = rounded(math.pi * d_f, math.pi) + u  # |d cos / dx| <= 1
                cosine = rounded(0.5 * m_fac * rounded(d_cos, 2.0) + 2 * u * m_fac, m_fac)
                scaled = rounded(abs(1 - a) * cosine, abs(1 - a) * m_fac)
                return lr * rounded(scaled, abs(1 - a) * m_fac + abs(a))

        return ulps, restarts
    if name in ("LinearCosineDecay", "NoisyLinearCosineDecay"):
        # lr * ((alpha + linear) * half_one_plus_cos + beta), linear in [0, 1]; the noisy
        # variant adds std * z to linear, with sqrt, log, cos and pow one ulp each.
        a, b = abs(float(config.get("alpha", 0.0))), abs(float(config.get("beta", 0.001)))
        noise = 0.0
        if name == "NoisyLinearCosineDecay":
            noise = math.sqrt(abs(float(config.get("initial_variance", 1.0)))) * _MAX_NORMAL
        factor = 1 + a + noise  # alpha + linear (+ noise), the same in both but for noise
        scaled = rounded(factor * half_one_plus_cos + 4 * noise * u, factor)
        return ulps, const(lr * rounded(scaled, factor + b))
    if name == "PolynomialDecay":
        end = float(config.get("end_learning_rate", 0.0001))
        return ulps, const(abs(lr - end) * u)
    if name == "NaturalExpDecay":
        # rate = exp(-decay_rate): TensorFlow's exp is within an ulp of refimpl's (2u
        # relative, with the u of float32 when decay_rate is a Python float: TensorFlow
        # computes exp in float32 then, also for a float64 schedule), and rate ** p
        # raises that to p.  The bound is relative to the value lr * rate ** p.
        ds, d = float(config["decay_steps"]), float(config["decay_rate"])
        staircase = bool(config.get("staircase", False))
        u_rate = _HALF_EPS_FLOAT32 if type(config["decay_rate"]) is float else u

        def natural(s: Any) -> Any:
            p = np.asarray(s, np.float64) / ds
            p = np.floor(p) if staircase else p
            with np.errstate(all="ignore"):
                grow = 2 * u_rate * np.abs(p)
                return np.nan_to_num(lr * np.exp(-d * p + grow) * np.expm1(grow), nan=0.0)

        return ulps, natural
    return ulps, const(0.0)


# --- comparison ----------------------------------------------------------------------------


def ulp_distance(a: Any, b: Any, dtype: Any = None) -> np.ndarray:
    """How many representable values of ``dtype`` lie between ``a`` and ``b`` (0: equal).

    NaN against NaN is 0; NaN against a number is the largest int64.

    >>> int(ulp_distance(np.float32(1.0), np.nextafter(np.float32(1.0), np.float32(2))))
    1
    >>> int(ulp_distance(0.0, -0.0, "float32"))
    0
    """
    dt = np.dtype(dtype) if dtype is not None else np.result_type(np.asarray(a), np.asarray(b))
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    ints = {2: np.int16, 4: np.int32, 8: np.int64}[dt.itemsize]
    x = np.asarray(a, dtype=dt)
    y = np.asarray(b, dtype=dt)

    def ordered(v: np.ndarray) -> np.ndarray:
        i = v.view(ints).astype(np.int64)
        return np.where(i < 0, np.iinfo(ints).min - i, i)

    with np.errstate(over="ignore"):
        dist = np.abs(ordered(x) - ordered(y))
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    dist = np.where(nan_x & nan_y, 0, dist)
    return np.where(nan_x ^ nan_y, np.iinfo(np.int64).max, dist)


def within_bounds(got: Any, want: Any, *, ulps: int = 0, atol: Any = 0.0) -> np.ndarray:
    """Where ``got`` is within bounds of the reference ``want``: at most ``ulps`` ulp
    (of ``want``'s dtype) apart, or -- where ``atol > 0`` -- within ``atol`` plus
    ``ulps`` ulp of ``want`` (the rule of :func:`assert_schedules_match` and of
    ``lr-refimpl parity``; ``atol`` broadcasts against the values).

    >>> one = np.float32(1.0)
    >>> within_bounds(np.nextafter(one, np.float32(2)), one, ulps=1).tolist()
    True
    >>> within_bounds(one + np.float32(1e-6), one, ulps=2, atol=1e-6).tolist()
    True
    """
    want = np.asarray(want)
    got = np.asarray(got)
    dtype = want.dtype if want.dtype.kind == "f" else np.dtype(np.float64)
    dist = ulp_distance(got.astype(dtype), want, dtype)
    extra = np.broadcast_to(np.asarray(atol, np.float64), want.shape)
    with np.errstate(invalid="ignore"):
        rounding = ulps * np.spacing(np.abs(want.astype(dtype))).astype(np.float64)
        close = np.abs(got.astype(np.float64) - want.astype(np.float64)) <= np.where(
            extra > 0, extra + rounding, 0.0
        )
    return np.asarray((dist <= ulps) | close)
