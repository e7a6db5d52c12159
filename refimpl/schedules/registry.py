"""Every schedule class refimpl defines, by name: the classes register themselves.

A schedule class joins the registry by naming its family when it is defined::

    class ExponentialDecay(LearningRateSchedule, family="keras"): ...

``"keras"``: one of the six ``keras.optimizers.schedules`` classes (serialized the way
Keras 3 serializes its built-ins); ``"extra"``: refimpl's own (serialized with
``registered_name="lr_refimpl>Name"``, the name the Keras adapter registers).  Nothing
here imports a schedule module, so any schedule module may import the serializer
without an import cycle; the registry is complete once :mod:`refimpl.schedules` is
imported.

>>> import refimpl.schedules
>>> "ExponentialDecay" in KERAS_SCHEDULES, "TimeBasedDecay" in EXTRA_SCHEDULES
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from refimpl.schedules._base import REGISTRY, LearningRateSchedule

__all__ = ["EXTRA_SCHEDULES", "KERAS_SCHEDULES", "SCHEDULES", "schedule_class"]


class _Family(Mapping[str, type[LearningRateSchedule]]):
    """A live, read-only view of the registered classes of one family (or all)."""

    def __init__(self, family: str | None) -> None:
        self._family = family

    def _classes(self) -> dict[str, type[LearningRateSchedule]]:
        if self._family is None:  # the Keras six first, in a stable order
            return {**KERAS_SCHEDULES, **EXTRA_SCHEDULES}
        return {n: c for n, c in sorted(REGISTRY.items()) if c.family == self._family}

    def __getitem__(self, name: str) -> type[LearningRateSchedule]:
        return self._classes()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes())

    def __len__(self) -> int:
        return len(self._classes())

    def __repr__(self) -> str:
        return f"{{{', '.join(self._classes())}}}"


#: The six schedules Keras 3 ships, by class name.
KERAS_SCHEDULES: Mapping[str, type[LearningRateSchedule]] = _Family("keras")
#: refimpl's schedules beyond Keras 3, by class name.
EXTRA_SCHEDULES: Mapping[str, type[LearningRateSchedule]] = _Family("extra")
#: Both, Keras's six first.
SCHEDULES: Mapping[str, type[LearningRateSchedule]] = _Family(None)


def schedule_class(name: str) -> type[LearningRateSchedule]:
    """The registered schedule class called ``name``.

    >>> schedule_class("CosineDecay").__name__
    'CosineDecay'
    >>> schedule_class("Cosine")
    Traceback (most recent call last):
    ValueError: Unknown schedule name='Cosine'. Known: CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, LinearCosineDecay, LinearWarmup, NaturalExpDecay, NoisyLinearCosineDecay, SequentialSchedule, TimeBasedDecay
    """
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ValueError(f"Unknown schedule name={name!r}. Known: {', '.join(SCHEDULES)}") from None
