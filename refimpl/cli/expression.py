"""``--function``: a ``LearningRateScheduler`` function from text, evaluated within bounds.

The text is an expression in ``epoch`` and ``lr`` (optionally written ``lambda epoch,
lr: ...``) made of numbers, ``pi``, arithmetic (``+ - * / // % **``), comparisons,
``a if cond else b`` and the functions exp, log, sqrt, floor, ceil, cos, min, max,
abs, pow.  Nothing else is evaluated: no names, attributes, calls or literals beyond
these (never ``eval``).

Bounded in time and size: the text is at most :data:`MAX_LENGTH` characters and
:data:`MAX_NODES` syntax nodes, there are no loops, and every value is a Python
``float`` (integers included), so each operation takes constant time and memory --
``9 ** 9 ** 9`` overflows at once instead of building a number with 370 million
digits.  Every failure -- a syntax error, a forbidden construct, division by zero, an
overflow, a complex result, a math domain error -- is a
:class:`~refimpl.cli.common.CommandError` that names the text (and, when evaluating,
the epoch and rate).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from refimpl.cli.common import CommandError

__all__ = ["MAX_LENGTH", "MAX_NODES", "epoch_function_from_text"]

#: The longest ``--function`` text accepted.
MAX_LENGTH = 1000
#: The most syntax nodes (numbers, names, operators, calls ...) in one expression.
MAX_NODES = 200

_BINARY: dict[type, Callable[[float, float], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[float], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE: dict[type, Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
#: name: (function, fewest arguments, most arguments).
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 2),
    "sqrt": (math.sqrt, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "cos": (math.cos, 1, 1),
    "min": (min, 2, MAX_NODES),
    "max": (max, 2, MAX_NODES),
    "abs": (abs, 1, 1),
    "pow": (pow, 2, 2),
}
_NAMES = ("epoch", "lr", "pi")
_ALLOWED = (
    "epoch, lr, pi, numbers, arithmetic (+ - * / // % **), comparisons, 'a if c else b' and "
    + ", ".join(_FUNCTIONS)
)


def _shown(text: str, width: int = 80) -> str:
    """``text`` quoted for a message, shortened to about ``width`` characters."""
    return repr(text) if len(text) <= width else repr(text[: width - 3] + "...")


def _check(tree: ast.Expression, text: str) -> None:
    """Refuse anything but the allowed constructs, before any evaluation."""
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise CommandError(
            f"--function: at most {MAX_NODES} terms and operators; this has {len(nodes)}. "
            f"Received: {_shown(text)}"
        )
    bad = CommandError(f"--function: only {_ALLOWED} are allowed. Received: {_shown(text)}")
    for node in nodes:
        if isinstance(node, (ast.Expression, ast.IfExp, ast.Load)):
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise bad
        elif isinstance(node, ast.Name):
            if node.id not in _NAMES and node.id not in _FUNCTIONS:
                raise bad
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise bad
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY:
                raise bad
        elif isinstance(node, ast.Compare):
            if not all(type(op) in _COMPARE for op in node.ops):
                raise bad
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                raise bad
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise bad
            _, fewest, most = _FUNCTIONS[node.func.id]
            if not fewest <= len(node.args) <= most:
                raise CommandError(
                    f"--function: {node.func.id}() takes "
                    + (f"{fewest}" if fewest == most else f"{fewest} or more")
                    + f" argument(s), not {len(node.args)}. Received: {_shown(text)}"
                )
        elif isinstance(node, (ast.operator, ast.unaryop, ast.cmpop)):
            continue
        else:
            raise bad
    # A function name is only allowed as the thing called.
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    for node in nodes:
        if isinstance(node, ast.Name) and node.id in _FUNCTIONS and id(node) not in called:
            raise bad


def _real(value: Any) -> float:
    """``value`` as a float; a complex result (``(-1) ** 0.5``) is an error."""
    if isinstance(value, complex):
        raise ArithmeticError(f"the result {value} is not a real number")
    return float(value)


def _evaluate(node: ast.AST, env: dict[str, float]) -> float:
    """The value of a checked expression; every intermediate is a float."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        return math.pi if node.id == "pi" else env[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, env), _evaluate(node.right, env)
        return _real(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp):
        return _real(_UNARY[type(node.op)](_evaluate(node.operand, env)))
    if isinstance(node, ast.IfExp):
        chosen = node.body if _evaluate(node.test, env) else node.orelse
        return _evaluate(chosen, env)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = _evaluate(comparator, env)
            if not _COMPARE[type(op)](left, right):
                return 0.0
            left = right
        return 1.0
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FUNCTIONS[node.func.id][0]
        return _real(function(*(_evaluate(a, env) for a in node.args)))
    raise AssertionError(f"unchecked node {ast.dump(node)}")  # pragma: no cover - _check


def epoch_function_from_text(text: str) -> Callable[[int, float], float]:
    """A ``LearningRateScheduler`` function ``(epoch, lr) -> lr`` from ``text``.

    The expression is checked here; an evaluation that fails (at some epoch) raises a
    :class:`~refimpl.cli.common.CommandError` naming the epoch and the rate.

    >>> f = epoch_function_from_text("lambda epoch, lr: lr / 3")
    >>> f(0, 0.003)
    0.001
    >>> epoch_function_from_text("lr if epoch < 2 else lr * exp(-0.1)")(5, 1.0)
    0.9048374180359595
    >>> epoch_function_from_text("lr * 9 ** 9 ** 9")(0, 0.001)
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --function 'lr * 9 ** 9 ** 9' at epoch 0 with lr=0.001: overflow (Numerical result out of range)
    >>> epoch_function_from_text("__import__('os')")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --function: only epoch, lr, pi, numbers, arithmetic (+ - * / // % **), comparisons, 'a if c else b' and exp, log, sqrt, floor, ceil, cos, min, max, abs, pow are allowed. Received: "__import__('os')"
    """
    if len(text) > MAX_LENGTH:
        raise CommandError(
            f"--function: at most {MAX_LENGTH} characters; received {len(text):,}: {_shown(text)}"
        )
    source = text.strip()
    if source.startswith("lambda"):
        head, sep, body = source.partition(":")
        if not sep or [a.strip() for a in head[len("lambda") :].split(",")] != ["epoch", "lr"]:
            raise CommandError(
                f"--function: write `lambda epoch, lr: ...`. Received: {_shown(text)}"
            )
        source = body.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CommandError(
            f"--function: not a valid expression. Received: {_shown(text)}"
        ) from None
    _check(tree, text)

    def function(epoch: int, lr: float) -> float:
        try:
            return _evaluate(tree, {"epoch": float(epoch), "lr": float(lr)})
        except ZeroDivisionError:
            reason = "division by zero"
        except OverflowError as exc:
            reason = f"overflow ({exc.args[-1] if exc.args else exc})"
        except (ArithmeticError, ValueError) as exc:
            reason = str(exc)
        raise CommandError(f"--function {_shown(text)} at epoch {epoch} with lr={lr:g}: {reason}")

    function.__doc__ = f"lambda epoch, lr: {source}"
    return function
