"""The scheduler base class: torch's ``LRScheduler`` machinery, replayed in NumPy.

Three views of one torch scheduler live on each class:

``scheduler(steps)``
    The rate torch applies at optimizer update ``steps`` (step 0 is the first update)
    in a fresh run: the scheduler constructed with these arguments on a fresh optimizer,
    ``step()`` called once after every update, nothing else touching the rate.  It is
    **torch's recursion, replayed** -- torch's ``get_lr`` multiplies the *current*
    rate by a factor on every step, and those roundings (in float64 for a Python-float
    rate, in float32 for a float32 tensor rate) are what training uses.  Vectorised
    where the recursion is a sequential product (``np.multiply.accumulate`` multiplies
    left to right, one rounding per factor: the same bits) or not a recursion at all;
    a loop where it is an affine recursion (``CosineAnnealingLR``) or calls user code.
    It is a pure function of the constructor arguments: the object's own ``step()``
    state does not change it.
``scheduler.closed_form(steps, xp=...)`` / ``scheduler.exact(steps)``
    The formula torch documents (its ``_get_closed_form_lr`` where it has one), written
    once over an array namespace ``xp`` (:mod:`refimpl.numpy_ops` by default,
    ``keras.ops`` or a JAX namespace elsewhere), in float64.  ``exact`` is it on NumPy:
    the true math.  How far torch's recursion strays from it is measured per scheduler
    in the README (``benchmarks/torch_closed_form.py``).
The stateful twin
    ``step()``, ``get_last_lr()``, ``get_lr()``, ``last_epoch``, ``base_lrs``,
    ``state_dict()``, ``load_state_dict()`` with torch's semantics and attribute names:
    ``state_dict()`` has torch's keys and values.  The rate lives in
    ``scheduler.optimizer.param_groups[0]["lr"]`` (see :class:`~refimpl.torch.optim.Optimizer`),
    where a hand edit persists through the recursion as it does in torch.

The first argument takes the optimizer's place: the base rate (a fresh
:class:`~refimpl.torch.optim.Optimizer` is made for it) or an ``Optimizer`` shared by
several schedulers.  Source: ``torch/optim/lr_scheduler.py`` of torch 2.13.0.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from refimpl import numpy_ops
from refimpl.torch._validation import check_count
from refimpl.torch.optim import Optimizer, check_lr

__all__ = [
    "EPOCH_DEPRECATION_WARNING",
    "LRScheduler",
    "as_optimizer",
    "check_steps",
    "param_groups_val_list",
    "products",
    "python_map",
    "repeated_products_at",
    "update_param_group_val",
    "warn_outside_step",
]

#: torch's warning when ``step(epoch)`` is called with an epoch.
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)


def as_optimizer(lr: Any) -> Optimizer:
    """The :class:`Optimizer` a scheduler works on: ``lr`` itself if it is one, else a
    fresh one holding the rate ``lr``."""
    if isinstance(lr, Optimizer):
        return lr
    return Optimizer(check_lr("lr", lr))


def param_groups_val_list(optimizer: Optimizer, key: str) -> list[Any]:
    """torch's ``_param_groups_val_list``: ``group[key]`` of every group (NumPy scalars
    are immutable, so torch's ``.clone()`` of a tensor needs no counterpart)."""
    return [group[key] for group in optimizer.param_groups]


def update_param_group_val(group: dict[str, Any], key: str, value: Any) -> None:
    """torch's ``_update_param_group_val``: a tensor rate is filled in place (keeping its
    dtype: ``fill_`` rounds a Python float to float32), a float rate is replaced."""
    current = group[key]
    if type(current) in (np.float32, np.float64):
        group[key] = type(current)(value)
    else:
        group[key] = value


def python_map(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """``function`` (e.g. ``math.cos``) of every element, as float64.

    torch computes with Python's ``math`` (the C library); NumPy's vectorised
    transcendental loops may round differently (measured here: ``np.power`` differs
    from ``**`` on 5% of float64 arguments, on a machine with AVX-512), so a bit-exact
    replay calls the same function on every value.
    """
    flat = values.reshape(-1).tolist()
    return np.fromiter(map(function, flat), np.float64, count=len(flat)).reshape(values.shape)


def products(first: Any, factors: Any, dtype: np.dtype, count: int | None = None) -> np.ndarray:
    """``[first, first * f1, (first * f1) * f2, ...]``, rounded after every product as
    torch's recursion rounds (``np.multiply.accumulate`` multiplies left to right).

    ``factors`` is a sequence, or one factor repeated ``count`` times.  In float32 each
    factor is first rounded to float32, as torch rounds a Python number meeting a
    float32 tensor.

    >>> products(1.0, [0.5, 0.25], np.dtype(np.float64))
    array([1.   , 0.5  , 0.125])
    """
    size = len(factors) if count is None else count
    values = np.empty(size + 1, dtype)
    values[0] = first
    values[1:] = factors
    return np.multiply.accumulate(values)


#: Factors per block of :func:`repeated_products_at` (8 MB of float64).
_BLOCK = 2**20


def repeated_products_at(first: Any, factor: Any, dtype: np.dtype, at: np.ndarray) -> np.ndarray:
    """``first`` multiplied by ``factor`` ``k`` times, one rounding per product (torch's
    recursion ``lr = lr * gamma``), for every ``k`` in ``at`` (int64, >= 0).

    The same bits as ``products(first, factor, dtype, count=at.max())[at]``, computed in
    blocks of 2**20 factors, each block continuing from the last value of the one
    before: memory stays small however far ``at`` reaches (10**9 products: ~4 s here).

    >>> repeated_products_at(1.0, 0.5, np.dtype(np.float64), np.array([3, 0]))
    array([0.125, 1.   ])
    """
    out = np.empty(at.shape, dtype)
    flat_at, flat_out = at.reshape(-1), out.reshape(-1)
    order = np.argsort(flat_at, kind="stable")
    sorted_at = flat_at[order]
    top = int(sorted_at[-1]) if sorted_at.size else 0
    value, start, i = first, 0, 0
    while i < sorted_at.size:
        count = min(_BLOCK, top - start)
        block = products(value, factor, dtype, count=count)  # steps start .. start + count
        stop = int(np.searchsorted(sorted_at, start + count, side="right"))
        flat_out[order[i:stop]] = block[sorted_at[i:stop] - start]
        value, start, i = block[-1], start + count, stop
    return out


def check_steps(step: Any) -> np.ndarray:
    """Optimizer steps as an int64 array (0-d for a scalar): integers >= 0."""
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(
            f"Argument `step` must be an integer or an array of integers. Received: step={step!r}"
        )
    try:
        arr = np.asarray(step)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Argument `step` must be an integer or an array of integers. Received: step={step!r}"
        ) from exc
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise ValueError(
                "Argument `step` must hold integers (optimizer updates are counted). "
                f"Received: step={step!r}"
            )
    elif arr.dtype.kind not in "iu":
        raise TypeError(
            "Argument `step` must be an integer or an array of integers. "
            f"Received: step={step!r} (dtype {arr.dtype})"
        )
    if arr.size and arr.min() < 0:
        raise ValueError(
            "Argument `step` must be >= 0 (step 0 is the first optimizer update). "
            f"Received: step={step!r}"
        )
    return arr.astype(np.int64)


def warn_outside_step(scheduler: LRScheduler) -> None:
    """torch's warning when ``get_lr()`` is called by the user rather than by ``step()``."""
    if not scheduler._get_lr_called_within_step:
        warnings.warn(
            "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
            UserWarning,
            stacklevel=3,
        )


class LRScheduler:
    """Base class of the torch schedulers; see the module docstring.

    Subclasses implement ``get_lr`` (torch's recursion, on the optimizer's current
    rate), ``_closed_form`` (the formula over ``xp``) and, where it pays, ``_replay``
    (the recursion, vectorised); the base class gives the loop replay
    (:meth:`loop_replay`), the twin's ``step()`` and the state.
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    #: refimpl's own attributes, left out of :meth:`state_dict` (which has torch's keys).
    _PRIVATE: ClassVar[frozenset[str]] = frozenset({"optimizer", "_args", "_lr0"})

    optimizer: Optimizer
    base_lrs: list[Any]
    last_epoch: int
    _step_count: int
    _last_lr: list[Any]
    _args: dict[str, Any]
    _lr0: Any

    # --- construction --------------------------------------------------------------------
    def _bind(self, lr: Any, **args: Any) -> Optimizer:
        """Record the constructor arguments (for :meth:`get_config` and the replay) and
        return the optimizer to work on.  Called first by every subclass constructor."""
        optimizer = as_optimizer(lr)
        if "last_epoch" in args:
            check_count("last_epoch", args["last_epoch"], minimum=-1)
        group = optimizer.param_groups[0]
        self._lr0 = group.get("initial_lr", group["lr"])
        self._args = args
        return optimizer

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        """torch's ``LRScheduler.__init__``: record the base rates and take the first step."""
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when "
                        f"resuming scheduler with last_epoch >= 0 (last_epoch={last_epoch}). "
                        "Pass Optimizer(lr=<the rate now>, initial_lr=<the base rate>) as "
                        "the first argument, as a loaded optimizer checkpoint provides."
                    )
        self.base_lrs = param_groups_val_list(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    # --- the twin: torch's stateful API ---------------------------------------------------
    def get_lr(self) -> list[Any]:
        """The next rates, from the current ones (torch's recursion); call :meth:`step`."""
        raise NotImplementedError

    def get_last_lr(self) -> list[Any]:
        """The rates set by the last :meth:`step` (after ``n`` steps: the rate of update ``n``)."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (after the optimizer's update), as torch's ``step()``.

        ``epoch`` (deprecated in torch, with its warning) sets ``last_epoch`` and uses
        the closed form where torch has one.
        """
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed = getattr(self, "_get_closed_form_lr", None)
                values = closed() if closed is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            update_param_group_val(group, "lr", lr)
        self._last_lr = param_groups_val_list(self.optimizer, "lr")

    def state_dict(self) -> dict[str, Any]:
        """torch's state: every attribute but the optimizer (refimpl's own left out)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._PRIVATE}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``: the attributes are replaced by the saved ones.

        The optimizer's rate is not part of it: as in torch, load the optimizer's state
        too (``scheduler.optimizer.load_state_dict(...)``), or the recursion continues
        from whatever rate the optimizer holds.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(
                f"Argument `state_dict` must be a dict. Received: state_dict={state_dict!r}"
            )
        self.__dict__.update(state_dict)

    # --- the replay: what torch applies in a fresh run ----------------------------------
    @property
    def dtype(self) -> np.dtype:
        """float32 for a float32 tensor rate, else float64 (torch's Python floats)."""
        return np.dtype(np.float32) if type(self._lr0) is np.float32 else np.dtype(np.float64)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, ``lr`` being the base rate."""
        return {"lr": self._lr0, **self._args}

    def _rebuild(self, optimizer: Optimizer, **overrides: Any) -> LRScheduler:
        """The same scheduler constructed on ``optimizer``."""
        return type(self)(optimizer, **{**self._args, **overrides})

    def fresh(self) -> LRScheduler:
        """A new twin, as constructed for a fresh run (``last_epoch=-1``) on a fresh
        optimizer holding the base rate."""
        overrides = {"last_epoch": -1} if "last_epoch" in self._args else {}
        return self._rebuild(self.optimizer.fresh(self._lr0), **overrides)

    def loop_replay(self, n: int) -> np.ndarray:
        """The rates of updates ``0 .. n-1`` of a fresh run, by stepping a fresh twin:
        the loop twin every vectorised replay is tested against."""
        twin = self.fresh()
        group = twin.optimizer.param_groups[0]
        out = np.empty(n, self.dtype)
        if n:
            out[0] = group["lr"]
        for i in range(1, n):
            twin.step()
            out[i] = group["lr"]
        return out

    def _replay(self, n: int) -> np.ndarray:
        """The rates of updates ``0 .. n-1`` of a fresh run (vectorised in subclasses)."""
        return self.loop_replay(n)

    #: The furthest step a loop replay goes to (about 10 s of stepping the twin).
    _MAX_REPLAY: ClassVar[int] = 10**6

    def _replay_at(self, steps: np.ndarray) -> np.ndarray:
        """The rates at ``steps`` (int64, >= 0, not empty) of a fresh run."""
        top = int(steps.max())
        if top > self._MAX_REPLAY:
            raise ValueError(
                f"Argument `step` reaches {top}: replaying {type(self).__name__}'s recursion "
                f"that far steps it {top} times in Python (more than the {self._MAX_REPLAY:,} "
                "refimpl allows). Use .exact(step) for the closed form, or step the twin. "
                f"Received: step={top}"
            )
        return self._replay(top + 1)[steps]

    def __call__(self, step: npt.ArrayLike) -> np.ndarray:
        """The rate torch applies at optimizer update ``step`` (an int or an array of
        them; 0 is the first update) in a fresh run: float64, or float32 for a float32
        tensor rate.  A pure function of the constructor arguments."""
        steps = check_steps(step)
        if steps.size == 0:
            return np.empty(steps.shape, self.dtype)
        return np.asarray(self._replay_at(steps)).reshape(steps.shape)

    # --- the closed form ----------------------------------------------------------------
    def _closed_form(self, step: Any, xp: Any, dtype: Any) -> Any:
        raise NotImplementedError

    def closed_form(
        self, step: Any, *, xp: ModuleType | Any = numpy_ops, dtype: npt.DTypeLike = np.float64
    ) -> Any:
        """The formula torch documents, at ``step``, on the array namespace ``xp``.

        ``dtype`` (float64 by default, as torch's Python floats) is that of every
        quantity; the base rate is taken at its value (``np.float32(0.1)`` is
        0.10000000149011612).
        """
        return self._closed_form(step, xp, dtype)

    def exact(self, step: npt.ArrayLike) -> np.ndarray:
        """The closed form in float64 on NumPy: the true math, as an array shaped like
        ``step`` (any real steps; the replay needs integers)."""
        arr = np.asarray(step)
        if arr.dtype.kind not in "iuf" or isinstance(step, (bool, np.bool_)):
            raise TypeError(
                f"Argument `step` must be a number or an array of numbers. Received: step={step!r}"
            )
        with np.errstate(all="ignore"):
            out = self._closed_form(arr.astype(np.float64), numpy_ops.exact_ops, np.float64)
        return np.array(np.broadcast_to(np.asarray(out, np.float64), arr.shape))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
