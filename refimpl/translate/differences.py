"""Where a schedule and its translation differ: steps, how much, and why.

Both sides are computed from refimpl's references, no framework needed: a Keras
schedule as Keras computes it (``schedule(steps)``: float32 for a Python-float rate), a
torch scheduler as torch applies it (``scheduler(steps)``: its recursion, replayed bit
for bit in float64).  :func:`compare` evaluates both over the horizon ``0 .. n-1`` and
compares them **in the target's dtype** (the source's values rounded to it first: a
Keras target cannot hold more than float32, so the float32 nearest to torch's rate
counts as equal), then gives every differing step one reason:

1. a *structural* reason the translation declares (:class:`Structural`: e.g. torch's
   ``CosineAnnealingLR`` rising again past ``T_max`` where Keras clamps), where it
   applies;
2. otherwise the arithmetic: the side further from its own true math
   (``exact(steps)``) is blamed -- ``"drift"`` when it is a recursive torch scheduler,
   ``"decision"`` when it is more than 1/128 of the value away (an interval, floor or
   restart decided differently in finite precision; ``"flush"`` when it is a subnormal
   value TensorFlow flushed to 0), else ``"float32"`` when the two
   frameworks compute in different dtypes and ``"rounding"`` when they do not.

Consecutive differing steps with the same reason make one :class:`DifferenceRow`
(steps that agree in between do not split a row; its ``count`` says how many differ).

>>> import numpy as np
>>> keras = Side("keras", "PiecewiseConstantDecay", np.dtype("float32"),
...             lambda s: np.where(s <= 2, np.float32(0.1), np.float32(0.01)),
...             lambda s: np.where(s <= 2, 0.1, 0.01))
>>> torch = Side("torch", "MultiStepLR", np.dtype("float64"),
...             lambda s: np.where(s < 3, 0.1, 0.1 * 0.1), lambda s: np.where(s < 3, 0.1, 0.01))
>>> comparison = compare(keras, torch, 5)
>>> [(row.first, row.last, row.reason) for row in comparison.rows]
[(0, 4, 'float32')]
>>> comparison.float32_differences
0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from refimpl.comparison import ulp_distance

__all__ = [
    "MAX_ROWS",
    "REASONS",
    "Comparison",
    "DifferenceRow",
    "Side",
    "Structural",
    "compare",
    "for_optax",
    "format_table",
]

#: Every reason a row can give, by key: what the table prints below the rows.
REASONS: dict[str, str] = {
    "periodic": (
        "clamp vs periodic -- torch's CosineAnnealingLR is a periodic cosine (past T_max "
        "it rises again, back to the initial rate at 2 * T_max); Keras's CosineDecay "
        "holds its final rate from decay_steps on"
    ),
    "float32": (
        "float32 vs float64 -- Keras computes in float32 (a Python-float rate), torch in "
        "float64 (Python floats): the same formula, rounded differently"
    ),
    "drift": (
        "recursive drift -- torch updates the rate recursively (rate = rate * factor, "
        "one rounding per step), so its rounding errors accumulate"
    ),
    "decision": (
        "a decision taken in finite precision -- an interval, floor or restart index "
        "comes out differently than in exact arithmetic (compare the source's exact())"
    ),
    "flush": (
        "subnormal flush -- TensorFlow's CPU kernels flush results below the smallest "
        "normal float (1.2e-38 in float32) to zero; the other side keeps the tiny value"
    ),
    "rounding": (
        "rounding -- both compute in the same dtype, with different operations (or, in "
        "Keras's float64 mode, hyperparameters rounded through float32)"
    ),
    "xla": (
        "float32 in another order -- Optax's schedule runs inside jax.jit, where XLA computes "
        "x / C as x * fl(1 / C), multiplies constant factors first and fuses a * b + c into "
        "one rounding (FMA), and Optax orders its formula its own way; Keras computes "
        "operation by operation (a staircase or interval can switch a step apart: compare "
        "exact())"
    ),
    "scales": (
        "cumulative scales -- Optax's piecewise_constant_schedule multiplies its scales one "
        "by one in float32 (fl(fl(v0 * s1) * s2) ...), where Keras holds each value itself"
    ),
    "float32-xla": (
        "float32 XLA vs float64 -- Optax computes in float32 under jax.jit (x64 off, XLA's "
        "rewrites and FMAs), torch in float64 (Python floats)"
    ),
}

#: How an Optax target renames the arithmetic reasons (see :func:`for_optax`).
_OPTAX_REASONS = {"rounding": "xla", "float32": "float32-xla", "decision": "xla"}

#: Beyond this many rows the table gives one row per reason (first..last, and a count).
MAX_ROWS = 12
#: A step lists its differing steps one by one when a row has at most this many.
_LISTED = 4
#: Farther than this (relative) from its own exact value, an error is a decision.
_DECISION = 2.0**-7


@dataclass(frozen=True)
class Side:
    """One side of a comparison, as refimpl's references compute it.

    ``rates(steps)`` is what the framework computes at the int64 ``steps`` (in
    ``dtype``); ``exact(steps)`` the same formula in float64 true math; ``recursive``
    says that the rates come from a recursion (torch), which is what ``"drift"`` blames.
    """

    framework: str
    label: str
    dtype: np.dtype
    rates: Callable[[np.ndarray], np.ndarray]
    exact: Callable[[np.ndarray], np.ndarray]
    recursive: bool = False


@dataclass(frozen=True)
class Structural:
    """A known, deterministic difference between a source and its translation:
    ``reason`` (a key of :data:`REASONS`) where ``applies(steps)`` is true."""

    reason: str
    applies: Callable[[np.ndarray], np.ndarray]

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"Unknown reason={self.reason!r}. Known: {', '.join(sorted(REASONS))}")


@dataclass(frozen=True)
class DifferenceRow:
    """Consecutive differing steps ``first .. last`` with one reason.

    ``count`` steps differ among them (the others agree); ``listed`` names them when
    they are few.  ``max_abs`` is the largest absolute difference, ``max_of_peak`` that
    relative to the peak rate (the largest absolute rate of either side over the
    horizon), ``max_ulps`` the largest distance in ulps of the compared dtype.
    """

    first: int
    last: int
    count: int
    listed: tuple[int, ...] | None
    max_abs: float
    max_of_peak: float
    max_ulps: int
    reason: str

    def steps_text(self) -> str:
        """The steps as the table prints them.

        >>> DifferenceRow(3, 9, 3, (3, 5, 9), 0.0, 0.0, 0, "float32").steps_text()
        '3, 5, 9'
        >>> DifferenceRow(3, 9, 7, None, 0.0, 0.0, 0, "float32").steps_text()
        '3..9'
        """
        if self.first == self.last:
            return str(self.first)
        if self.count == self.last - self.first + 1:
            return f"{self.first}..{self.last}"
        if self.listed is not None:
            return ", ".join(map(str, self.listed))
        return f"{self.first}..{self.last}"


@dataclass(frozen=True)
class Comparison:
    """A source and a target compared at steps ``0 .. n-1`` (see the module docstring).

    ``source`` and ``target`` are the rates as each framework computes them, ``differs``
    where they differ in ``dtype`` (the target's), ``reasons`` the reason of each
    differing step (``""`` where they agree), ``rows`` the grouped table.
    ``float32_differences`` counts the steps that still differ once both are rounded to
    float32 -- given when the comparison is in float64 and a side computes in float32
    (Keras), else None.
    """

    n: int
    dtype: np.dtype
    source: np.ndarray
    target: np.ndarray
    differs: np.ndarray
    reasons: np.ndarray
    rows: tuple[DifferenceRow, ...]
    peak: float
    float32_differences: int | None
    collapsed: bool = field(default=False)

    @property
    def differing_steps(self) -> np.ndarray:
        """The steps where the two differ (int64, ascending)."""
        return np.flatnonzero(self.differs).astype(np.int64)


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a == b) | (np.isnan(a) & np.isnan(b)))


def _arithmetic_reasons(
    source: Side,
    target: Side,
    steps: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """The reason of a difference no structural rule explains, at every step of ``steps``."""
    with np.errstate(all="ignore"):
        s64, t64 = s.astype(np.float64), t.astype(np.float64)
        s_exact = np.asarray(source.exact(steps), np.float64)
        t_exact = np.asarray(target.exact(steps), np.float64)
        err_s = np.nan_to_num(np.abs(s64 - s_exact), nan=np.inf)
        err_t = np.nan_to_num(np.abs(t64 - t_exact), nan=np.inf)
        blame_source = err_s >= err_t
        err = np.where(blame_source, err_s, err_t)
        size = np.where(
            blame_source,
            np.maximum(np.abs(s64), np.abs(s_exact)),
            np.maximum(np.abs(t64), np.abs(t_exact)),
        )
        recursive = np.where(blame_source, source.recursive, target.recursive)
        decision = err > _DECISION * size
        blamed = np.where(blame_source, s64, t64)
        blamed_exact = np.where(blame_source, s_exact, t_exact)
        tiny = np.where(blame_source, np.finfo(source.dtype).tiny, np.finfo(target.dtype).tiny)
        flush = (blamed == 0) & (np.abs(blamed_exact) < tiny) & (blamed_exact != 0)
    plain = "float32" if source.dtype != target.dtype else "rounding"
    return np.where(
        flush, "flush", np.where(recursive, "drift", np.where(decision, "decision", plain))
    )


def _rows(
    differing: np.ndarray,
    reasons: np.ndarray,
    abs_diff: np.ndarray,
    ulps: np.ndarray,
    peak: float,
) -> tuple[list[DifferenceRow], bool]:
    """Group the differing steps into rows (see the module docstring); one row per
    reason if there would be more than :data:`MAX_ROWS`."""

    def row(members: np.ndarray, reason: str) -> DifferenceRow:
        biggest = float(np.max(abs_diff[members]))
        return DifferenceRow(
            first=int(members[0]),
            last=int(members[-1]),
            count=int(members.size),
            listed=tuple(int(m) for m in members) if members.size <= _LISTED else None,
            max_abs=biggest,
            max_of_peak=biggest / peak if peak > 0 else float("inf") if biggest else 0.0,
            max_ulps=int(np.max(ulps[members])),
            reason=reason,
        )

    if differing.size == 0:
        return [], False
    labels = reasons[differing]
    cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    groups = np.split(differing, cuts)
    if len(groups) <= MAX_ROWS:
        return [row(g, str(reasons[g[0]])) for g in groups], False
    order = list(dict.fromkeys(labels.tolist()))  # reasons in order of first appearance
    return [row(differing[labels == r], r) for r in order], True


def compare(
    source: Side, target: Side, n: int, structural: Sequence[Structural] = ()
) -> Comparison:
    """Compare ``source`` and ``target`` at steps ``0 .. n-1`` (see the module docstring).

    Raises ``ValueError`` naming ``n`` unless it is an integer >= 1.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"The horizon must be an integer >= 1. Received: n={n!r}")
    steps = np.arange(int(n), dtype=np.int64)
    with np.errstate(all="ignore"):  # a growing rate overflows to inf, as in the frameworks
        s = np.asarray(source.rates(steps))
        t = np.asarray(target.rates(steps))
    dtype = np.dtype(target.dtype)
    with np.errstate(all="ignore"):
        sc, tc = s.astype(dtype), t.astype(dtype)
        differs = ~_equal(sc, tc)
        abs_diff = np.abs(sc.astype(np.float64) - tc.astype(np.float64))
        magnitudes = np.concatenate([np.abs(s.astype(np.float64)), np.abs(t.astype(np.float64))])
        peak = float(np.nanmax(magnitudes)) if np.any(~np.isnan(magnitudes)) else 0.0
    ulps = ulp_distance(sc, tc, dtype)
    reasons = np.full(steps.shape, "", dtype=object)
    unexplained = differs.copy()
    for rule in structural:
        hit = unexplained & np.asarray(rule.applies(steps), bool)
        reasons[hit] = rule.reason
        unexplained &= ~hit
    if np.any(unexplained):
        at = steps[unexplained]
        reasons[unexplained] = _arithmetic_reasons(
            source, target, at, s[unexplained], t[unexplained]
        )
    rows, collapsed = _rows(np.flatnonzero(differs), reasons, abs_diff, ulps, peak)
    float32_differences = None
    if dtype == np.float64 and np.dtype(np.float32) in (
        np.dtype(source.dtype),
        np.dtype(target.dtype),
    ):
        with np.errstate(all="ignore"):
            float32_differences = int(
                np.count_nonzero(~_equal(s.astype(np.float32), t.astype(np.float32)))
            )
    return Comparison(
        n=int(n),
        dtype=dtype,
        source=s,
        target=t,
        differs=differs,
        reasons=reasons,
        rows=tuple(rows),
        peak=peak,
        float32_differences=float32_differences,
        collapsed=collapsed,
    )


def for_optax(comparison: Comparison) -> Comparison:
    """``comparison`` with the arithmetic reasons of an Optax target named for what they
    are: a Keras source (float32, op by op) against Optax (float32 under ``jax.jit``)
    differs by XLA's arithmetic (``"xla"``, decisions included: XLA's ``x * fl(1/C)``
    decides a staircase), a torch source (float64) by float32 XLA arithmetic
    (``"float32-xla"``).  Structural reasons and ``"drift"`` stay.

    >>> import numpy as np
    >>> keras = Side("keras", "k", np.dtype("float32"), lambda s: np.float32(0.1) + 0 * s,
    ...              lambda s: 0.1 + 0 * s)
    >>> optax = Side("optax", "o", np.dtype("float32"),
    ...              lambda s: np.nextafter(np.float32(0.1), np.float32(1)) + 0 * s,
    ...              lambda s: 0.1 + 0 * s)
    >>> [row.reason for row in for_optax(compare(keras, optax, 3)).rows]
    ['xla']
    """
    reasons = np.array([_OPTAX_REASONS.get(r, r) for r in comparison.reasons], dtype=object)
    rows = tuple(
        DifferenceRow(
            r.first,
            r.last,
            r.count,
            r.listed,
            r.max_abs,
            r.max_of_peak,
            r.max_ulps,
            _OPTAX_REASONS.get(r.reason, r.reason),
        )
        for r in comparison.rows
    )
    merged: list[DifferenceRow] = []
    for row in rows:  # rows that now share a reason and touch become one
        last = merged[-1] if merged else None
        if last is not None and last.reason == row.reason and not comparison.collapsed:
            listed = (
                (*last.listed, *row.listed)
                if last.listed is not None
                and row.listed is not None
                and len(last.listed) + len(row.listed) <= _LISTED
                else None
            )
            merged[-1] = DifferenceRow(
                last.first,
                row.last,
                last.count + row.count,
                listed,
                max(last.max_abs, row.max_abs),
                max(last.max_of_peak, row.max_of_peak),
                max(last.max_ulps, row.max_ulps),
                row.reason,
            )
        else:
            merged.append(row)
    return Comparison(
        n=comparison.n,
        dtype=comparison.dtype,
        source=comparison.source,
        target=comparison.target,
        differs=comparison.differs,
        reasons=reasons,
        rows=tuple(merged),
        peak=comparison.peak,
        float32_differences=comparison.float32_differences,
        collapsed=comparison.collapsed,
    )


def format_table(comparison: Comparison, source: str, target: str) -> str:
    """The comparison as text: a title, a row per range of differing steps (or one
    sentence when they never differ), the peak rate, and what each reason means.

    ``source`` and ``target`` name the two sides (e.g. ``"Keras's ExponentialDecay"``).
    """
    c = comparison
    span = f"steps 0..{c.n - 1}" if c.n > 1 else "step 0"
    title = (
        f"Where {source} and {target} differ, {span} ({c.n:,} "
        f"step{'s' if c.n != 1 else ''}), compared in {c.dtype.name}:"
    )
    lines = [title]
    if not c.rows:
        lines.append(f"  they never differ: the same {c.dtype.name} value at every step.")
    else:
        header = (
            f"  {'steps':<22} {'differing':>9}  {'max |diff|':>10}  {'of peak':>9}  "
            f"{'ulps (' + c.dtype.name + ')':>16}  why"
        )
        lines.append(header)
        for row in c.rows:
            steps_text = row.steps_text()
            if len(steps_text) > 22:
                steps_text = f"{row.first}..{row.last}"
            ulps = f"{row.max_ulps:,}" if row.max_ulps < 10**9 else f"{row.max_ulps:.3g}"
            lines.append(
                f"  {steps_text:<22} {row.count:>9,}  {row.max_abs:>10.3g}  "
                f"{row.max_of_peak:>9.3g}  {ulps:>16}  {row.reason}"
            )
        total = int(np.count_nonzero(c.differs))
        if c.collapsed:
            lines.append(
                f"  ({total:,} differing steps in all; one row per reason: the reasons "
                "alternate too often for one row per range)"
            )
    lines.append(f"Peak rate over the horizon: {c.peak:.6g}.")
    if c.float32_differences is not None:
        if c.float32_differences == 0:
            lines.append("Rounded to float32 (Keras's dtype) they never differ.")
        else:
            lines.append(
                f"Rounded to float32 (Keras's dtype) they still differ at "
                f"{c.float32_differences:,} step{'s' if c.float32_differences != 1 else ''}."
            )
    used = list(dict.fromkeys(row.reason for row in c.rows))
    if used:
        lines.append("Why:")
        lines += [f"  {key}: {REASONS[key]}." for key in used]
    return "\n".join(lines)
