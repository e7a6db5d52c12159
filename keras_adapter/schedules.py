"""Keras schedules that run refimpl's formulas: one registered class per refimpl schedule.

Each class here is a ``keras.optimizers.schedules.LearningRateSchedule`` with the name,
signature, defaults, validation and config of the refimpl schedule of the same name.
Construction is delegated to the refimpl class (so a bad argument fails with the very
same exception and message), and ``__call__`` runs that schedule's module-level formula
function -- the same function object refimpl evaluates with NumPy -- on ``keras.ops``::

    step -> reference.evaluate(step, xp=keras.ops)

so inside ``model.fit``'s compiled train step (a ``tf.function``; XLA too with
``jit_compile=True``, Keras's default when a GPU is present), after ``load_model`` and
under a ``tf.distribute`` strategy the rate is computed by refimpl's code, with the ops
the Keras built-ins use.  Every class is registered with
``keras.saving.register_keras_serializable(package="lr_refimpl")``: a model saved with
one records ``"registered_name": "lr_refimpl>ClassName"``, and a process must
``import keras_adapter`` before ``keras.models.load_model`` to find it.

>>> import keras_adapter
>>> schedule = keras_adapter.ExponentialDecay(0.001, 500, 0.98, staircase=True)
>>> round(float(schedule(4689)), 10)
0.000833748
>>> schedule.get_config()
{'initial_learning_rate': 0.001, 'decay_steps': 500, 'decay_rate': 0.98, 'staircase': True, 'name': 'ExponentialDecay'}
>>> keras_adapter.ExponentialDecay(0.001, 0, 0.98)
Traceback (most recent call last):
ValueError: Argument `decay_steps` must be > 0. Received: decay_steps=0
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import keras

from keras_adapter.backends import formula_namespace
from refimpl import schedules as _ref
from refimpl.schedules import serialization as _serialization

__all__ = [
    "ADAPTERS",
    "PACKAGE",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LinearCosineDecay",
    "LinearWarmup",
    "NaturalExpDecay",
    "NoisyLinearCosineDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "RefimplSchedule",
    "SequentialSchedule",
    "TimeBasedDecay",
    "as_reference",
]

#: The package every adapter class is registered under (``"lr_refimpl>ClassName"``):
#: refimpl's own serializer writes the same ``registered_name``.
PACKAGE = _serialization.PACKAGE


def _is_builtin_keras_schedule(obj: Any) -> bool:
    """A Keras 3 built-in schedule, or a tf_keras (Keras 2) one, of the six classes."""
    cls = type(obj)
    name = cls.__name__
    if name not in _ref.KERAS_SCHEDULES:
        return False
    if cls is getattr(keras.optimizers.schedules, name, None):
        return True
    return cls.__module__.startswith(("tf_keras.", "keras.src.optimizers.schedules."))


def as_reference(schedule: Any) -> Any:
    """The refimpl schedule behind ``schedule``, or ``schedule`` unchanged.

    Accepts a refimpl schedule (returned as is), an adapter schedule (its
    :attr:`~RefimplSchedule.reference`), a Keras 3 or tf_keras built-in schedule, or a
    serialized schedule dict (Keras 2, Keras 3 or refimpl form).  Anything else -- a
    number, your own Keras schedule -- is returned unchanged, so the refimpl
    constructor it is handed to reports it with its own message.

    >>> as_reference(ExponentialDecay(0.1, 10, 0.5))
    ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=False, name='ExponentialDecay')
    """
    if isinstance(schedule, _ref.LearningRateSchedule):
        return schedule
    if isinstance(schedule, RefimplSchedule):
        return schedule.reference
    if _is_builtin_keras_schedule(schedule):
        return _ref.KERAS_SCHEDULES[type(schedule).__name__].from_config(schedule.get_config())
    if isinstance(schedule, Mapping):
        return _ref.deserialize(schedule)
    return schedule


class RefimplSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base of the adapter classes: a Keras schedule wrapping one refimpl schedule.

    Subclasses set :attr:`reference_class`; the constructor takes exactly that class's
    arguments and builds :attr:`reference` with them.  Nested schedules (of
    ``TimeBasedDecay``, ``LinearWarmup``, ``SequentialSchedule``) may be given as
    adapter, Keras built-in, refimpl or serialized-dict schedules; they are converted
    to refimpl schedules first.  Hyperparameters are readable as attributes
    (``schedule.decay_steps``), as on Keras's built-ins; schedules are immutable.
    """

    #: The refimpl class this adapter runs (set by each subclass).
    reference_class: ClassVar[type[_ref.LearningRateSchedule]]
    #: Constructor arguments that hold a schedule (or, for ``schedules``, a list of them).
    _nested: ClassVar[frozenset[str]] = frozenset()

    reference: _ref.LearningRateSchedule

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = [
            p for p in inspect.signature(self.reference_class.__init__).parameters if p != "self"
        ]
        if self._nested:
            args = tuple(
                self._to_reference_arg(names[i], a) if i < len(names) else a
                for i, a in enumerate(args)
            )
            kwargs = {k: self._to_reference_arg(k, v) for k, v in kwargs.items()}
        object.__setattr__(self, "reference", self.reference_class(*args, **kwargs))

    def _to_reference_arg(self, name: str, value: Any) -> Any:
        if name not in self._nested:
            return value
        if name == "schedules" and isinstance(value, (list, tuple)):
            return [as_reference(v) for v in value]
        return as_reference(value)

    @classmethod
    def from_reference(cls, reference: _ref.LearningRateSchedule) -> RefimplSchedule:
        """The adapter running the refimpl schedule ``reference`` (which must be a
        ``cls.reference_class`` exactly)."""
        if type(reference) is not cls.reference_class:
            raise TypeError(
                f"{cls.__name__}.from_reference expects a refimpl "
                f"{cls.reference_class.__name__}. Received: {reference!r} "
                f"({type(reference).__name__})"
            )
        adapter = cls.__new__(cls)
        object.__setattr__(adapter, "reference", reference)
        return adapter

    def __call__(self, step: Any) -> Any:
        """The learning rate at ``step``: refimpl's formula run on ``keras.ops`` (on
        the torch backend with uint32 wrap-around: :func:`~keras_adapter.backends.formula_namespace`)."""
        name = getattr(self.reference, "name", None) or type(self).__name__
        with keras.name_scope(name):
            return self.reference.evaluate(step, xp=formula_namespace())

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (nested schedules in Keras's serialized dict form)."""
        return self.reference.get_config()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RefimplSchedule:
        """Rebuild from :meth:`get_config` output; an unknown key raises a ``TypeError``
        naming it, a bad value the refimpl constructor's error (no silent defaults)."""
        return cls.from_reference(cls.reference_class.from_config(config))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: expose the hyperparameters read-only.
        if name.startswith("_") or name == "reference":
            raise AttributeError(name)
        try:
            return getattr(self.reference, name)
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} schedules are immutable; build a new one "
            f"(e.g. {type(self).__name__}.from_config({{**schedule.get_config(), "
            f"{name!r}: ...}}))."
        )

    def __repr__(self) -> str:
        return f"keras_adapter.{self.reference!r}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).from_config, (self.get_config(),))


_A = TypeVar("_A", bound=type[RefimplSchedule])


#: Every adapter class, by class name (the same names as refimpl's schedules).
ADAPTERS: dict[str, type[RefimplSchedule]] = {}


def _register(cls: _A) -> _A:
    """Give ``cls`` its refimpl class's constructor signature and register it with Keras."""
    ref = cls.reference_class
    if cls.__name__ != ref.__name__:  # pragma: no cover - a programming error
        raise TypeError(f"adapter {cls.__name__} must have the name of {ref.__name__}")

    def __init__(self: RefimplSchedule, *args: Any, **kwargs: Any) -> None:
        RefimplSchedule.__init__(self, *args, **kwargs)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ref_init = inspect.signature(ref.__init__)
    params = [self_param, *list(ref_init.parameters.values())[1:]]
    __init__.__signature__ = ref_init.replace(parameters=params)  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__name__}.__init__"
    __init__.__doc__ = ref.__init__.__doc__
    cls.__init__ = __init__  # type: ignore[method-assign]
    keras.saving.register_keras_serializable(package=PACKAGE, name=cls.__name__)(cls)
    ADAPTERS[cls.__name__] = cls
    return cls


@_register
class ExponentialDecay(RefimplSchedule):
    """``keras.optimizers.schedules.ExponentialDecay`` on refimpl's formula.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.ExponentialDecay`.
    """

    reference_class = _ref.ExponentialDecay


@_register
class PiecewiseConstantDecay(RefimplSchedule):
    """``keras.optimizers.schedules.PiecewiseConstantDecay`` on refimpl's formula.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.PiecewiseConstantDecay`.
    """

    reference_class = _ref.PiecewiseConstantDecay


@_register
class PolynomialDecay(RefimplSchedule):
    """``keras.optimizers.schedules.PolynomialDecay`` on refimpl's formula.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.PolynomialDecay`.
    """

    reference_class = _ref.PolynomialDecay


@_register
class InverseTimeDecay(RefimplSchedule):
    """``keras.optimizers.schedules.InverseTimeDecay`` on refimpl's formula.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.InverseTimeDecay`.
    """

    reference_class = _ref.InverseTimeDecay


@_register
class CosineDecay(RefimplSchedule):
    """``keras.optimizers.schedules.CosineDecay`` on refimpl's formula.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.CosineDecay`.
    """

    reference_class = _ref.CosineDecay


@_register
class CosineDecayRestarts(RefimplSchedule):
    """``keras.optimizers.schedules.CosineDecayRestarts`` on refimpl's formula.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.CosineDecayRestarts`.
    """

    reference_class = _ref.CosineDecayRestarts


@_register
class TimeBasedDecay(RefimplSchedule):
    """The legacy optimizer argument ``decay=`` as a Keras 3 schedule.

    ``lr / (1 + decay * step)`` on a float, or stacked on any schedule (evaluated first),
    as tf_keras's legacy optimizers computed it.  Keras 3 ignores ``SGD(decay=...)``
    with only a warning; pass ``learning_rate=TimeBasedDecay(lr, decay)`` instead.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.TimeBasedDecay`.
    """

    reference_class = _ref.TimeBasedDecay
    _nested = frozenset({"initial_learning_rate"})


@_register
class NaturalExpDecay(RefimplSchedule):
    """``tf.compat.v1.train.natural_exp_decay`` as a Keras 3 schedule.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.NaturalExpDecay`.
    """

    reference_class = _ref.NaturalExpDecay


@_register
class LinearCosineDecay(RefimplSchedule):
    """``tf.compat.v1.train.linear_cosine_decay`` as a Keras 3 schedule.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.LinearCosineDecay`.
    """

    reference_class = _ref.LinearCosineDecay


@_register
class NoisyLinearCosineDecay(RefimplSchedule):
    """``tf.compat.v1.train.noisy_linear_cosine_decay`` as a Keras 3 schedule.

    Seeded, counter-based noise: the same ``seed`` and step always give the same rate,
    on every replica and after ``load_model``.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.NoisyLinearCosineDecay`.
    """

    reference_class = _ref.NoisyLinearCosineDecay


@_register
class LinearWarmup(RefimplSchedule):
    """A linear warmup in front of any schedule.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.LinearWarmup`.
    """

    reference_class = _ref.LinearWarmup
    _nested = frozenset({"schedule"})


@_register
class SequentialSchedule(RefimplSchedule):
    """Schedules one after the other, each counting from 0 at its boundary.

    Arguments, defaults, validation and config: :class:`refimpl.schedules.SequentialSchedule`.
    """

    reference_class = _ref.SequentialSchedule
    _nested = frozenset({"schedules"})


if sorted(ADAPTERS) != sorted(_ref.SCHEDULES):  # pragma: no cover
    raise ImportError("keras_adapter must define one adapter per refimpl schedule")
