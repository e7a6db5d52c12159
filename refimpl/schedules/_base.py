"""The schedule base class: construct and validate, call on any step, configs like Keras."""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from refimpl import modes, numpy_ops
from refimpl.runs import TrainingRun
from refimpl.schedules._validation import warn
from refimpl.schedules.findings import Finding, epoch_like

__all__ = [
    "FAMILIES",
    "FLOAT32_EXACT_INT_LIMIT",
    "KNOWLEDGE",
    "REGISTRY",
    "LearningRateSchedule",
    "compute_dtype",
]

#: float32 holds every integer up to ``2**24`` exactly; beyond, the step cast rounds.
FLOAT32_EXACT_INT_LIMIT = 2**24

#: The memo covers steps below this (int32 steps, exact in float32, no step warnings).
_MEMO_LIMIT = FLOAT32_EXACT_INT_LIMIT - 512

#: Steps per memo block: a scalar call at ``step == previous + 1`` (a training loop, the
#: lesson's plotting loop) evaluates ``[step, step + _MEMO_BLOCK)`` in one vectorised
#: call and serves the following calls from it (see ``LearningRateSchedule.__call__``).
_MEMO_BLOCK = 512


_EXACT_INT_LIMITS = {np.dtype(np.float16): 2**11, np.dtype(np.float32): 2**24}


_FLOAT32 = np.dtype(np.float32)


def compute_dtype(initial_learning_rate: Any) -> np.dtype:
    """The dtype Keras computes a schedule in: that of ``initial_learning_rate``.

    A Python ``float`` gives float32 (TensorFlow's rule, whatever ``floatx()`` says), a
    NumPy scalar keeps its dtype, a Python ``int`` gives int32.

    >>> compute_dtype(0.1), compute_dtype(np.float64(0.1)), compute_dtype(1)
    (dtype('float32'), dtype('float64'), dtype('int32'))
    """
    if type(initial_learning_rate) is float:  # the common case, without numpy_ops
        return _FLOAT32
    return numpy_ops.convert_to_tensor(initial_learning_rate).dtype


def _check_step(step: Any) -> Any:
    """Accept an int, float, NumPy scalar or array-like of them; return it unchanged
    for Python scalars (so the namespace applies TensorFlow's scalar dtype rule)."""
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(
            f"Argument `step` must be a number or an array of numbers. Received: step={step!r}"
        )
    if isinstance(step, numbers.Real) and not isinstance(step, np.generic):
        return step
    try:
        arr = np.asarray(step)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise TypeError(
            f"Argument `step` must be a number or an array of numbers. Received: step={step!r}"
        ) from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            "Argument `step` must be a number or an array of numbers. "
            f"Received: step={step!r} (dtype {arr.dtype})"
        )
    return arr


_MEMO_KEYS = frozenset({"_memo", "_last_step", "_traced"})
_IMMUTABLE = (int, float, bool, str, type(None), np.generic)


def _snapshot(schedule: Any) -> tuple[Any, ...] | None:
    """What the memo's results depend on: the attributes (a getter for them by name),
    the attribute objects themselves and copies of the lists among them; None if an
    attribute is neither an immutable value nor a flat list/tuple of them (another
    schedule, an array, ...), or for classes defined outside refimpl (subclasses may
    keep state the snapshot does not see).

    :func:`_same` compares by identity, so a re-assigned attribute (even to an equal
    value) or an edited list element invalidates the memo.
    """
    if not type(schedule).__module__.startswith("refimpl.schedules."):
        return None  # a subclass may keep state in slots, properties, class attributes
    names: list[str] = []
    objects: list[Any] = []
    lists: list[tuple[int, tuple[Any, ...]]] = []
    for name, value in list(schedule.__dict__.items()):  # a copy: other threads may add
        if name in _MEMO_KEYS:
            continue
        if isinstance(value, (list, tuple)):
            if not all(isinstance(v, _IMMUTABLE) for v in value):
                return None
            lists.append((len(objects), tuple(value)))
        elif not isinstance(value, _IMMUTABLE):
            return None
        names.append(name)
        objects.append(value)
    getter = operator.itemgetter(*names)
    if len(names) == 1:  # itemgetter of one key returns the value, not a tuple
        return (lambda state: (state[names[0]],)), tuple(objects), tuple(lists), 1
    return getter, tuple(objects), tuple(lists), len(names)


def _same(schedule: Any, snapshot: tuple[Any, ...]) -> bool:
    """Whether ``schedule``'s attributes are still those of ``snapshot``."""
    getter, objects, lists, count = snapshot
    state = schedule.__dict__
    if len(state) - sum(key in state for key in _MEMO_KEYS) != count:
        return False
    try:
        current = getter(state)
    except KeyError:
        return False
    if not all(map(operator.is_, current, objects)):
        return False
    for position, copy in lists:
        value = current[position]
        if len(value) != len(copy) or not all(map(operator.is_, value, copy)):
            return False
    return True


@np.errstate(all="ignore")  # Keras computes inf/NaN silently (e.g. in unused branches)
def _evaluate_quietly(schedule: LearningRateSchedule, step: Any) -> Any:
    """The schedule's formula at ``step`` with NumPy, subnormal results flushed to 0."""
    return numpy_ops.flush_subnormals(schedule.evaluate(step))


def _shaped(result: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The result as an array of the step's shape (a step-independent formula, e.g. a
    constant rate, returns a scalar: broadcast it)."""
    arr = np.asarray(result)
    return arr if arr.shape == shape else np.array(np.broadcast_to(arr, shape))


#: The families a schedule class can register in (see :mod:`refimpl.schedules.registry`).
FAMILIES = ("keras", "extra")
#: Every registered schedule class, by class name (filled as the classes are defined).
REGISTRY: dict[str, type[LearningRateSchedule]] = {}


class LearningRateSchedule:
    """Base class of every refimpl schedule, with Keras's conventions.

    The constructor validates and stores the arguments exactly as given (so
    :meth:`get_config` returns them unchanged); :meth:`evaluate` is the formula on any
    array namespace (``refimpl.numpy_ops`` here, ``keras.ops`` in the Keras adapter);
    ``__call__`` evaluates it with NumPy on an int, float, NumPy scalar or array of steps
    and returns a NumPy array of the same shape (0-d for a scalar), in the dtype Keras
    computes in.  :meth:`exact` gives the float64 "true math" value instead.
    """

    #: Keras's ``name`` default for this class (set by each subclass).
    default_name: ClassVar[str | None] = None
    #: ``"keras"`` for the six ``keras.optimizers.schedules`` classes, ``"extra"`` for
    #: refimpl's own, None for a class that is not registered (your own subclasses).
    family: ClassVar[str | None] = None

    #: The formula function (``formula(step, *arguments, xp=..., dtype=...)``), set by
    #: each subclass; its positional arguments after ``step`` are attributes of the
    #: schedule with the same names.
    formula: ClassVar[Callable[..., Any]]
    #: Names of ``formula``'s arguments after ``step`` (derived from its signature).
    _formula_arguments: ClassVar[tuple[str, ...]] = ()
    #: Names of the constructor's arguments (``get_config``'s keys, in order).
    _init_arguments: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, *, family: str | None = None, **kwargs: Any) -> None:
        """Register the class by name when it names its ``family``; derive the formula's
        argument names and append the formula's documentation to the class docstring
        (so ``help(cls)`` shows the formula, its intervals and traps: one source)."""
        super().__init_subclass__(**kwargs)
        cls._init_arguments = _constructor_arguments(cls)
        formula = cls.__dict__.get("formula")
        if formula is not None:
            function = formula.__func__ if isinstance(formula, staticmethod) else formula
            cls._formula_arguments = _positional_after_step(function)
            cls.__doc__ = _with_formula_doc(cls.__doc__, function)
        cls.family = family
        if family is None:
            return
        if family not in FAMILIES:
            raise TypeError(f"family must be one of {FAMILIES}. Received: family={family!r}")
        missing = _missing_knowledge(cls)
        if missing:
            raise TypeError(
                f"Schedule class {cls.__name__!r} must define what the project knows about "
                f"it before it registers (family={family!r}); missing: {', '.join(missing)}. "
                "See refimpl.schedules.KNOWLEDGE."
            )
        if cls.__name__ in REGISTRY:
            raise TypeError(f"A schedule class named {cls.__name__!r} is already registered.")
        REGISTRY[cls.__name__] = cls

    # --- what the project knows about this schedule ---------------------------------
    #: What this schedule reproduces (``"keras.optimizers.schedules.ExponentialDecay"``,
    #: ``"tf.compat.v1.train.natural_exp_decay"``, ...), None when nothing in a framework
    #: computes it.
    counterpart: ClassVar[str | None] = None
    #: The constructor arguments whose value sets the compute dtype (what
    #: :meth:`with_dtype` converts): rates, lists of rates, or nested schedules.
    dtype_arguments: ClassVar[tuple[str, ...]] = ("initial_learning_rate",)

    @property
    def decision(self) -> str | None:
        """What the formula decides on the step (a staircase, an interval, a restart),
        in words, for messages about steps where two computations decide differently;
        None if it decides nothing."""
        inner = [c.decision for c in self.children() if c.decision]
        return "; ".join(inner) if inner else None

    def children(self) -> list[LearningRateSchedule]:
        """The schedules this one runs (none for a plain schedule)."""
        return []

    #: Whether the formula uses only ``+ - * /``, comparisons and casts (no ``cos``,
    #: ``log``, ``exp``, ``pow``): its documented bound is then 0 ulp, else 2.
    exact_arithmetic: ClassVar[bool] = False

    def rounding_bound(self, dtype: Any) -> tuple[int, Callable[[Any], Any]]:
        """refimpl's documented accuracy against TensorFlow's eager call, computing in
        ``dtype``: ``(ulps, atol)``, a value being within bounds when it is at most
        ``ulps`` ulp from TensorFlow's, or within ``atol(steps)`` plus ``ulps`` ulp of
        it (:func:`refimpl.ulps.within_bounds`).  ``ulps`` is 0 for the formulas
        without a transcendental function (:attr:`exact_arithmetic`), else 2 (the
        rounding of the result); ``atol`` is the forward error of a transcendental
        intermediate carried through the formula (:meth:`_forward_error`; 0 where there
        is none), for a platform whose ``cos``/``exp``/``pow``/``log`` are within one ulp
        of glibc's (on x86-64 Linux refimpl runs glibc's algorithms: 0 ulp measured).

        Derivation (``u`` is half the dtype's epsilon, ``2**-24`` in float32): one ulp
        of a value ``v`` is at most ``2u * |v|``; both computations then run the same
        operations on values that differ: a product by a common factor scales the
        difference, and rounding two values within ``d`` of each other, both at most
        ``M`` in size, leaves them within ``d + 2u * M`` (:func:`refimpl.ulps.rounded`).
        Composite schedules take the loosest of their children.

        >>> from refimpl.schedules import CosineDecay, InverseTimeDecay
        >>> InverseTimeDecay(0.1, 10, 0.5).rounding_bound("float32")[0]
        0
        >>> ulps, atol = CosineDecay(1.0, 100).rounding_bound("float32")
        >>> ulps, float(atol(np.array([10]))[0] / 2**-24)  # 2.5u + 2u (product) + 2u (sum)
        (2, 6.5)
        """
        from refimpl import ulps as ulp_math

        u = ulp_math.half_epsilon(dtype)
        own = 0 if self.exact_arithmetic else 2
        parts = [child.rounding_bound(dtype) for child in self.children()]
        if parts:
            worst = max([own, *(p[0] for p in parts)])
            return worst, lambda s: np.max([p[1](s) for p in parts], axis=0)
        return own, self._forward_error(u)

    def _forward_error(self, u: float) -> Callable[[Any], Any]:
        """The absolute forward error of the formula's transcendental intermediates at
        each step (``u``: half the compute dtype's epsilon); none by default."""
        from refimpl.ulps import constant

        return constant(0.0)

    def edge_steps(self) -> list[int]:
        """Steps where the schedule changes regime: step 0, boundaries, the end of a
        decay or warmup, staircase switches, restarts (sorted, unique).  Decisions
        (which interval, which period) are taken there, so that is where tests look,
        together with each edge's neighbours.

        >>> from refimpl.schedules import ExponentialDecay
        >>> ExponentialDecay(0.1, 10, 0.5, staircase=True).edge_steps()
        [0, 10, 20, 30]
        """
        return sorted({0, *self._edges()})

    def _edges(self) -> list[int]:
        return []

    def horizon(self) -> int | None:
        """The step from which the rate stays constant for ever (the first such integer
        step for a plain schedule; a step from which it holds, for a composite with
        non-integer step counts), None if it keeps changing (or is constant throughout).

        >>> from refimpl.schedules import CosineDecay
        >>> CosineDecay(0.1, 1000, warmup_target=1.0, warmup_steps=100).horizon()
        1100
        """
        return None

    #: The constructor arguments that count optimizer steps: a value no larger than the
    #: number of epochs most likely holds epochs where steps belong (:meth:`findings`).
    step_arguments: ClassVar[tuple[str, ...]] = ()

    def findings(self, run: TrainingRun, rates: np.ndarray | None = None) -> list[Finding]:
        """What this schedule does over ``run`` that its user should know: a warning for
        each trap that changes what trains (a horizon longer or shorter than the run, a
        boundary past the last step, a step count that looks like epochs), a note for
        what is worth knowing (Keras switching at boundary + 1, restarts, a staircase
        between epoch boundaries).  ``rates``: the eager rates at steps
        ``0..run.total_steps - 1`` if already computed.  ``lr-refimpl explain`` prints
        these with the findings that hold for any schedule (the rate reaching 0, a steep
        fall, graph and XLA modes).

        >>> from refimpl.runs import TrainingRun
        >>> from refimpl.schedules import PolynomialDecay
        >>> for f in PolynomialDecay(0.1, 5, 0.01).findings(TrainingRun(60_000, 64, 5)):
        ...     print(f)  # doctest: +NORMALIZE_WHITESPACE
        warning: decay_steps = 5 looks like a number of epochs, but schedules count
        optimizer steps (batches): with 938 steps an epoch, 5 epochs are decay_steps = 4,690.
        warning: the horizon is shorter than the run: decay_steps = 5, so from step 5
        (epoch 1, its step 6 of 938) the rate stays at end_learning_rate = 0.01 for the
        last 4,685 steps (100% of the run).
        """
        if rates is None:
            rates = np.asarray(self(np.arange(run.total_steps)))
        found = epoch_like(self.get_config(), self.step_arguments, run)
        return found + self._findings(run, rates)

    def _findings(self, run: TrainingRun, rates: np.ndarray) -> list[Finding]:
        """This class's own findings over ``run`` (``rates``: the eager rates at each of
        its steps); every registered class defines it, [] where it has none to report."""
        return []

    def with_dtype(self, dtype: npt.DTypeLike) -> LearningRateSchedule:
        """The same schedule computing in ``dtype``: each of :attr:`dtype_arguments`
        becomes a NumPy scalar of ``dtype`` (Keras's rule: the compute dtype is that of
        the initial rate), nested schedules recursively.

        >>> from refimpl.schedules import ExponentialDecay
        >>> ExponentialDecay(0.1, 10, 0.5).with_dtype("float64").dtype
        dtype('float64')
        """
        kind = np.dtype(dtype).type

        def convert(value: Any) -> Any:
            if isinstance(value, LearningRateSchedule):
                return value.with_dtype(dtype)
            if isinstance(value, (list, tuple)):
                return type(value)(convert(v) for v in value)
            return kind(value)

        arguments = {name: getattr(self, name) for name in self._init_arguments}
        for name in self.dtype_arguments:
            arguments[name] = convert(arguments[name])
        return type(self)(**arguments)

    #: The dtype the step is cast to before the formula (None: not cast, as in
    #: ``PiecewiseConstantDecay``); used to warn about steps float32 cannot represent.
    def _step_cast_dtype(self) -> np.dtype | None:
        return self.dtype

    @property
    def dtype(self) -> np.dtype:
        """The compute dtype, by Keras's rule (that of ``initial_learning_rate``)."""
        return compute_dtype(self._dtype_source())

    def _dtype_source(self) -> Any:
        return getattr(self, "initial_learning_rate")  # noqa: B009

    # --- the formula -------------------------------------------------------------------
    def evaluate(
        self, step: Any, *, xp: ModuleType | Any = numpy_ops, dtype: npt.DTypeLike | None = None
    ) -> Any:
        """The schedule's formula at ``step`` on the array namespace ``xp``.

        ``dtype=None`` computes in Keras's dtype; ``dtype="float64"`` computes the same
        formula with every hyperparameter and the step in float64.
        """
        arguments = [getattr(self, name) for name in self._formula_arguments]
        return type(self).formula(step, *arguments, xp=xp, dtype=dtype)

    def __call__(self, step: npt.ArrayLike, *, mode: str = "eager") -> np.ndarray:
        """The learning rate at ``step`` (scalar or array), as Keras computes it in ``mode``.

        ``mode="eager"`` (the default): what ``schedule(step)`` gives in Keras, in the
        compute dtype (float32 for a Python-float rate).  ``mode="graph"``: the rate
        ``model.fit`` applies with Keras's default ``compile()`` on a CPU;
        ``mode="xla"``: with ``jit_compile=True`` -- TensorFlow rewrites the formula's
        arithmetic there (see :mod:`refimpl.modes`).  Keras 3 on its other backends:
        ``mode="jax"`` (``KERAS_BACKEND=jax``: ``jax.jit``, XLA with jaxlib's rules, no
        64-bit types) and ``mode="torch"`` (``KERAS_BACKEND=torch``: eager PyTorch
        float32, subnormals kept).  In every mode but eager the result is the rate the
        optimizer applies: float32, at integer steps (below ``2**31`` for ``"jax"`` and
        ``"torch"``, whose step counter is int32; a ValueError otherwise).

        Consecutive Python-int steps (``schedule(k)`` right after ``schedule(k - 1)``, as
        in a training loop) are served from a memo in eager mode: the schedule is a
        pure function of the step and of its attributes, so the next 512 steps are
        evaluated in one vectorised call and looked up afterwards -- the same values
        bit for bit (tested), much cheaper per call.  Each lookup first checks that the
        attributes are the very objects of the block's snapshot (lists: element by
        element): any assignment or edit makes it recompute.  Schedules holding other
        objects than numbers, strings and lists of them (e.g. another schedule), and
        subclasses defined outside refimpl, are not memoised.
        """
        if mode != "eager":
            return self._applied(step, modes.check_mode(mode))
        if type(step) is int and 0 <= step < _MEMO_LIMIT:
            memo = self.__dict__.get("_memo")
            if memo is not None:
                start, values, state = memo
                if start <= step < start + _MEMO_BLOCK and _same(self, state):
                    return np.array(values[step - start])
                if step == start + _MEMO_BLOCK:  # the loop runs on past the block
                    self.__dict__["_last_step"] = step - 1
            if self.__dict__.get("_last_step") == step - 1:
                values = self._memo_block(step)
                if values is not None:
                    return np.array(values[0])
            self.__dict__["_last_step"] = step
        if type(step) is int:  # the scalar-step path, kept short
            self._warn_about_steps(step)
            return np.asarray(_evaluate_quietly(self, step))
        checked = _check_step(step)
        shape = checked.shape if isinstance(checked, np.ndarray) else ()
        self._warn_about_steps(checked)
        return _shaped(_evaluate_quietly(self, checked), shape)

    # --- the compiled modes ---------------------------------------------------------------
    def trace(self, mode: str) -> Any:
        """The graph the train step runs for this schedule in ``mode`` (``"graph"``,
        ``"xla"``, ``"jax"`` or ``"torch"``), rewritten as the compiler rewrites it (torch:
        not at all), ending with the optimizer's cast to float32 (a :class:`refimpl.modes.trace.Node`;
        ``print`` it to read the arithmetic).

        >>> from refimpl.schedules import ExponentialDecay
        >>> print(ExponentialDecay(0.1, 61, 0.5, staircase=True).trace("graph"))
        multiply(0.1, power(0.5, floor(multiply(0.016393442, cast(step, float32)))))
        """
        tracer = modes.tracer(mode)
        rate = self.evaluate(tracer.step(), xp=tracer)
        return tracer.finish(tracer.cast(rate, np.float32))

    def _applied(self, step: Any, mode: str) -> np.ndarray:
        """The float32 rate the optimizer applies at the integer ``step``(s) in ``mode``.

        The traced graph is kept with a snapshot of the attributes (as the memo of
        consecutive steps is) and traced again when any attribute changes: a training
        loop calls the schedule once per step."""
        steps = _integer_steps(step, mode)
        self._warn_about_steps(steps)
        from refimpl.modes.trace import run

        cache = self.__dict__.get("_traced", {})
        hit = cache.get(mode)
        if hit is not None and hit[0] is not None and _same(self, hit[0]):
            graph = hit[1]
        else:
            state = _snapshot(self)
            graph = self.trace(mode)
            self.__dict__["_traced"] = {**cache, mode: (state, graph)}
        rates = run(graph, steps)
        self._warn_about_decisions(steps, rates, mode)
        return rates

    def _warn_about_decisions(self, steps: np.ndarray, rates: np.ndarray, mode: str) -> None:
        """A :class:`~refimpl.ScheduleWarning` where training in ``mode`` decides
        differently from the documented formula (:meth:`exact`) or gives a non-finite
        rate where it does not, naming the decision and the steps."""
        from refimpl.modes.differences import compare

        found = [
            d.message
            for d in compare(self, steps, mode, "exact", rates=rates)
            if d.kind in ("nan", "decision")
        ]
        if found:
            warn(
                f"{type(self).__name__} in training: " + "; ".join(found) + ".",
                stacklevel=5,  # warn <- here <- _applied <- __call__ <- the caller
            )

    # --- the memo of consecutive scalar steps ------------------------------------------
    def _memo_block(self, start: int) -> np.ndarray | None:
        """Evaluate ``[start, start + _MEMO_BLOCK)`` and keep it with a snapshot of the
        attributes taken before; None when the memo does not apply (attributes that are
        not plain values, a dtype that warns on these steps)."""
        state = _snapshot(self)
        if state is None:
            return None
        cast_dtype = self._step_cast_dtype()
        if cast_dtype is not None and np.dtype(cast_dtype).itemsize < 4:
            return None  # float16 steps warn above 2048: take the scalar path
        block = np.arange(start, start + _MEMO_BLOCK, dtype=np.int32)  # a Python int's dtype
        with np.errstate(all="ignore"):
            values = _shaped(numpy_ops.flush_subnormals(self.evaluate(block)), block.shape)
        self.__dict__["_memo"] = (start, values, state)
        self.__dict__["_last_step"] = start
        return values

    def __getstate__(self) -> Any:
        """Pickle and copy without the memo (``object.__getstate__``'s form otherwise,
        so a subclass's ``__slots__`` are kept)."""
        getstate = getattr(super(), "__getstate__", None)  # Python >= 3.11
        state = getstate() if getstate is not None else self.__dict__
        slots = None
        if isinstance(state, tuple):  # (dict or None, slots)
            state, slots = state
        state = {k: v for k, v in (state or {}).items() if k not in _MEMO_KEYS}
        return (state, slots) if slots is not None else state

    def exact(self, step: npt.ArrayLike) -> np.ndarray:
        """The learning rate at ``step`` in float64 "true math".

        The same formula with the hyperparameters taken at their Python (float64)
        values and the step cast to float64, so nothing is rounded to float32 and no
        integer initial rate truncates the others.  (Keras's own float64 mode, a
        ``np.float64`` initial rate, still rounds every *other* Python-float
        hyperparameter through float32, because ``ops.cast`` converts it first.)
        """
        checked = _check_step(step)
        with np.errstate(all="ignore"):
            result = self.evaluate(checked, xp=numpy_ops.exact_ops, dtype=np.float64)
            return _shaped(result, np.shape(checked))

    def _warn_about_steps(self, step: Any) -> None:
        if type(step) is int and 0 <= step <= FLOAT32_EXACT_INT_LIMIT:  # common case, fast
            cast_dtype = self._step_cast_dtype()
            if cast_dtype is None or cast_dtype is _FLOAT32 or np.dtype(cast_dtype).itemsize >= 4:
                return
        arr = np.asarray(step)
        if arr.size == 0:
            return
        lo, hi = (arr.min(), arr.max()) if arr.ndim else (arr, arr)
        self._warn_about_range(lo, hi, arr.dtype)

    def _warn_about_range(self, lo: Any, hi: Any, step_dtype: np.dtype) -> None:
        """Warn about steps in ``[lo, hi]`` (of ``step_dtype``) that Keras mistreats:
        negative, NaN or infinite steps, and steps the compute dtype cannot hold exactly."""
        name = type(self).__name__
        if lo != lo or hi != hi:  # NaN: min/max propagate it
            warn(
                f"{name} was called with a NaN step; Keras evaluates the formula there "
                "anyway and returns NaN (or a value that ignores the step).",
                stacklevel=5,  # warn <- here <- _warn_about_steps/_evaluate_in_chunks <- __call__
            )
            return
        if lo < 0:
            warn(
                f"{name} was called with a negative step ({lo}); Keras evaluates the "
                "formula there anyway, which is rarely meaningful.",
                stacklevel=5,
            )
        if hi == math.inf:
            warn(
                f"{name} was called with an infinite step; Keras evaluates the formula "
                "there anyway (inf / decay_steps and the like), which is rarely meaningful.",
                stacklevel=5,
            )
            return
        cast_dtype = self._step_cast_dtype()
        limit = _EXACT_INT_LIMITS.get(np.dtype(cast_dtype)) if cast_dtype is not None else None
        if limit is None or lo == -math.inf:
            return
        largest = max(abs(int(lo)), abs(int(hi)))  # int(): exact for every float
        if largest > limit:
            warn(
                f"{name} computes in {np.dtype(cast_dtype).name}, which holds integers "
                f"exactly only up to {limit}; step {largest} is beyond it and is rounded to "
                "the nearest representable value before the formula, as Keras does "
                "(consecutive steps there can get the same rate). Use `.exact(step)` or a "
                "float64 initial_learning_rate for exact steps.",
                stacklevel=5,
            )

    # --- configs ------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, with Keras's keys and values (in the constructor's
        order, as Keras returns them)."""
        return {name: getattr(self, name) for name in self._init_arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        """Rebuild a schedule from :meth:`get_config`'s output (``cls(**config)``).

        Unknown keys raise ``TypeError`` naming them (no silent defaults).
        """
        if not isinstance(config, dict):
            raise TypeError(
                f"{cls.__name__}.from_config expects a dict. Received: config={config!r}"
            )
        accepted = set(cls._init_arguments)
        unknown = sorted(set(config) - accepted)
        if unknown:
            raise TypeError(
                f"{cls.__name__}.from_config: unknown key(s) {unknown} in config "
                f"{config!r}; {cls.__name__} accepts {sorted(accepted)}."
            )
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: What every registered schedule class must define (itself or through one of its
#: bases other than LearningRateSchedule): ``(name, alternatives)``, one of the alternatives being enough.  A class that
#: has nothing to say for one of them says so explicitly (``counterpart = None``,
#: ``def horizon(self): return None``, ``def _findings(...): return []``).
KNOWLEDGE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the formula", ("formula",)),
    ("the framework counterpart", ("counterpart",)),
    ("the accuracy", ("exact_arithmetic", "_forward_error", "children")),
    ("the edge steps", ("_edges",)),
    ("the horizon", ("horizon",)),
    ("the step-counting arguments", ("step_arguments",)),
    ("the findings over a run", ("_findings",)),
)


def _missing_knowledge(cls: type) -> list[str]:
    """The entries of :data:`KNOWLEDGE` that ``cls`` leaves to the base class."""
    own = [k for k in cls.__mro__ if k not in (LearningRateSchedule, object)]
    defined = {name for k in own for name in vars(k)}
    return [
        f"{what} ({' or '.join(names)})"
        for what, names in KNOWLEDGE
        if not defined.intersection(names)
    ]


def _positional_after_step(function: Callable[..., Any]) -> tuple[str, ...]:
    """The names of ``function``'s positional parameters after the first (the step)."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [p.name for p in inspect.signature(function).parameters.values() if p.kind in kinds]
    return tuple(params[1:])


def _constructor_arguments(cls: type) -> tuple[str, ...]:
    """The names of ``cls.__init__``'s parameters, ``self`` excluded."""
    return tuple(p for p in inspect.signature(cls.__init__).parameters if p != "self")  # type: ignore[misc]


def _with_formula_doc(class_doc: str | None, formula: Callable[..., Any]) -> str:
    """``class_doc`` followed by ``formula``'s docstring without its examples (they run
    as the function's doctests; the class keeps its own)."""
    head = inspect.cleandoc(class_doc or "")
    body = inspect.cleandoc(formula.__doc__ or "")
    kept: list[str] = []
    in_example = False
    for line in body.splitlines():
        if line.lstrip().startswith(">>>"):
            in_example = True
        elif not line.strip():
            in_example = False
        if not in_example:
            kept.append(line)
    text = "\n".join(kept).rstrip()
    return f"{head}\n\nThe formula, :func:`{formula.__module__}.{formula.__name__}`:\n\n{text}\n"


def _integer_steps(step: Any, mode: str) -> np.ndarray:
    """``step`` as an int64 array: the optimizer's ``iterations`` in a compiled mode."""
    checked = _check_step(step)
    arr = np.asarray(checked)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all() or (arr != np.round(arr)).any():
            raise ValueError(
                f"In mode={mode!r} the step is the optimizer's integer step counter. "
                f"Received: step={step!r}"
            )
    if arr.size and (arr.min() < -(2**63) or arr.max() > 2**63 - 1):
        raise ValueError(f"Argument `step` does not fit in int64. Received: step={step!r}")
    return modes.check_steps(arr.astype(np.int64), mode, step)
