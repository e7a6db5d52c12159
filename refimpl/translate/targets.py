"""What a translation produces, and how the built-in or the exact port is chosen.

A target framework module (:mod:`refimpl.translate.torch_target`,
:mod:`refimpl.translate.keras_target`) offers up to two :class:`Candidate` ways to
write a source: the framework's **built-in** that computes the same formula (possibly
with declared structural differences, e.g. a periodic cosine where the source clamps),
and the **exact port** (the source's formula written out as code of the target
framework).  :func:`choose` picks one by ``use``:

- ``"auto"``: the built-in when it exists and none of its structural differences
  falls within the horizon, else the exact port (with a note saying what the built-in
  would have done);
- ``"built-in"``: the built-in, whatever its differences (an error if there is none);
- ``"port"``: the exact port (an error if there is none).

Either way the differences that remain are rounding: float32 vs float64, torch's
recursion, the order of operations -- listed by the comparison, not hidden.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refimpl.translate.differences import Side, Structural

__all__ = [
    "USES",
    "Candidate",
    "Target",
    "boundary_trap",
    "candidate",
    "choose",
    "comment",
    "periodic_after",
    "run_code",
]

#: The values of ``use``.
USES = ("auto", "built-in", "port")


@dataclass(frozen=True)
class Target:
    """The translation's output: ``code`` for ``framework`` (``kind`` is
    ``"built-in"``, ``"exact port"`` or ``"constant rate"``; ``name`` the class it
    uses), and its :class:`~refimpl.translate.differences.Side` as refimpl's
    references compute what that code does; ``reference`` is the refimpl object that
    computes it (a torch scheduler of :mod:`refimpl.torch.lr_scheduler`, a Keras
    schedule of :mod:`refimpl.schedules`), None for a constant rate or a Keras port."""

    framework: str
    kind: str
    name: str
    code: str
    side: Side
    structural: tuple[Structural, ...] = ()
    notes: tuple[str, ...] = field(default=())
    reference: Any = None


@dataclass(frozen=True)
class Candidate:
    """One way to write the source: ``build()`` renders the code and its reference;
    ``structural`` are its known differences from the source (where they apply)."""

    kind: str
    name: str
    build: Callable[[tuple[str, ...]], Target]
    structural: tuple[Structural, ...] = ()


def candidate(
    framework: str,
    kind: str,
    name: str,
    structural: tuple[Structural, ...],
    notes: tuple[str, ...],
    *,
    side: Callable[[], tuple[Any, Side]],
    render: Callable[[], str],
) -> Candidate:
    """A :class:`Candidate` whose ``build`` computes ``side()`` (the reference and what
    it computes), renders the code and adds the choice's notes to ``notes``."""

    def build(extra: tuple[str, ...]) -> Target:
        reference, computed = side()
        code = render()
        return Target(framework, kind, name, code, computed, structural, (*notes, *extra),
                      reference)  # fmt: skip

    return Candidate(kind, name, build, structural)


def _span(mask: np.ndarray) -> str:
    hits = np.flatnonzero(mask)
    first, last = int(hits[0]), int(hits[-1])
    return str(first) if first == last else f"{first}..{last}"


def choose(
    framework: str,
    source_name: str,
    builtin: Candidate | str,
    port: Candidate | str,
    use: str,
    n: int,
) -> Target:
    """Pick the built-in or the exact port by ``use`` (see the module docstring) and
    build it.  A ``str`` in place of a candidate says why there is none."""
    if use not in USES:
        raise ValueError(f"Argument `use` must be one of {', '.join(USES)}. Received: use={use!r}")
    if use == "built-in":
        if isinstance(builtin, str):
            raise ValueError(
                f"No {framework} built-in reproduces {source_name}: {builtin}. "
                "Use the exact port (use='port', --use port)."
            )
        return builtin.build(())
    if use == "port":
        if isinstance(port, str):
            raise ValueError(f"No exact {framework} port of {source_name}: {port}.")
        return port.build(())
    if isinstance(builtin, str):
        if isinstance(port, str):
            raise ValueError(
                f"translate cannot write {source_name} for {framework}: no built-in "
                f"({builtin}) and no exact port ({port})."
            )
        return port.build((f"No {framework} built-in: {builtin}.",))
    steps = np.arange(n, dtype=np.int64)
    clashes = [
        (rule, mask)
        for rule in builtin.structural
        if np.any(mask := np.asarray(rule.applies(steps), bool))
    ]
    if not clashes or isinstance(port, str):
        return builtin.build(())
    said = "; ".join(f"at steps {_span(mask)} ({rule.reason})" for rule, mask in clashes)
    return port.build(
        (
            f"The built-in {builtin.name} would differ from {source_name} {said} within "
            f"the horizon, so this is the exact port; use='built-in' (--use built-in) "
            "shows the built-in and its differences.",
        )
    )


def periodic_after(step: int) -> Structural:
    """The structural difference of torch's periodic cosine against a clamped one: at
    every step after ``step`` (where the cosine reaches its bottom).

    >>> periodic_after(2).applies(np.arange(5)).tolist()
    [False, False, False, True, True]
    """
    return Structural("periodic", lambda steps: steps > step)


def boundary_trap(source: Side, n: int, naive: np.ndarray, what: str) -> str | None:
    """A note on the classic porting mistake: ``naive`` (the rates at steps ``0 .. n-1``
    of code that takes the other framework's boundaries as they are, described by
    ``what``) against the source, both rounded to float32; None when they agree.

    >>> keras = Side("keras", "k", np.dtype("float64"), lambda s: np.where(s <= 2, 1.0, 0.5),
    ...              lambda s: np.where(s <= 2, 1.0, 0.5))
    >>> print(boundary_trap(keras, 5, np.where(np.arange(5) < 2, 1.0, 0.5), "milestones=[2]"))
    Boundary rule: milestones=[2] would differ at step 2: Keras's PiecewiseConstantDecay holds values[i] up to and including boundaries[i] and switches at boundary + 1; torch's MultiStepLR switches at the milestone.
    """
    steps = np.arange(n, dtype=np.int64)
    with np.errstate(all="ignore"):
        rates = np.asarray(source.rates(steps)).astype(np.float32)
        hits = np.flatnonzero(rates != naive.astype(np.float32))
    if hits.size == 0:
        return None
    shown = ", ".join(str(int(h)) for h in hits[:6]) + (", ..." if hits.size > 6 else "")
    where = f"step {shown}" if hits.size == 1 else f"steps {shown} ({hits.size} in all)"
    return (
        f"Boundary rule: {what} would differ at {where}: Keras's PiecewiseConstantDecay "
        "holds values[i] up to and including boundaries[i] and switches at boundary + 1; "
        "torch's MultiStepLR switches at the milestone."
    )


def comment(text: str, width: int = 96) -> list[str]:
    """``text`` as ``#`` comment lines of at most ``width`` characters.

    >>> comment("a b c", width=5)
    ['# a b', '# c']
    """
    return [f"# {line}" for line in textwrap.wrap(text, width - 2)]


def run_code(imports: Sequence[str], prelude: str) -> dict[str, Any]:
    """The namespace of ``import m`` for each of ``imports`` followed by ``prelude``:
    the definitions an emitted snippet makes, executed as the user's copy would be."""
    namespace: dict[str, Any] = {}
    source = "\n".join(f"import {m}" for m in imports) + "\n\n" + prelude
    exec(source, namespace)
    return namespace
