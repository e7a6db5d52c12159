"""What every ``lr-refimpl`` subcommand shares: input errors, the parser, limits, extras.

Errors: a mistake in the user's input -- a bad name, value, file or combination of
options -- is a :class:`CommandError`, and only a :class:`CommandError` becomes the
one line ``lr-refimpl: error: ...`` with exit status 2.  The places where input meets
the library turn the library's ``ValueError``/``TypeError`` into a
:class:`CommandError` there and nowhere else (a schedule's constructor validating the
options, ``deserialize`` reading a file, the ``--function`` evaluator); any other
exception is a bug of ours and surfaces as one, with its traceback.

Limits: no command evaluates, trains or plots more than :data:`MAX_STEPS` optimizer
steps (:func:`check_step_count`), so no input can exhaust the memory.

Extras: a command that needs an optional dependency gets it through
:func:`import_extra`, which says in one line which extra to install when it is missing.
It is also the only way ``refimpl`` reaches ``keras_adapter`` (for the commands that
need TensorFlow: ``parity`` and ``tutorial --backend keras``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import sys
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any, NoReturn, TextIO

__all__ = [
    "EXTRAS",
    "EXTRA_MODULES",
    "MAX_MODE_STEPS",
    "MAX_STEPS",
    "ArgumentParser",
    "CommandError",
    "check_step_count",
    "import_extra",
    "one_line",
    "warnings_as_text",
]

PROG = "lr-refimpl"

#: The most optimizer steps any command evaluates, trains or plots: 10 million float64
#: rates are 80 MB, and every command keeps a few arrays of that length.
MAX_STEPS = 10_000_000

#: The most steps at which ``table`` and ``explain`` compute the rates of the compiled
#: modes (their traced graphs run op by op: about 1 s per million steps and mode).
MAX_MODE_STEPS = 1_000_000

#: The modules each extra installs that refimpl imports.
EXTRA_MODULES = {"plot": ("matplotlib",), "keras": ("tensorflow", "keras"), "test": ("hypothesis",)}
#: The extra that provides each optional top-level module, as ``pip install`` spells it
#: (``keras_adapter`` is installed with refimpl, but imports what the ``keras`` extra has).
EXTRAS = {m: extra for extra, modules in EXTRA_MODULES.items() for m in modules}
EXTRAS |= {"tf_keras": "keras", "keras_adapter": "keras"}


class CommandError(ValueError):
    """A mistake in the user's input: printed as one ``lr-refimpl: error: ...`` line,
    exit status 2.  A ``ValueError``, so library callers of the CLI's parsers (such as
    :func:`refimpl.cli.table.parse_steps`) can catch it as one."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (whitespace runs become one space).

    >>> one_line(ValueError("first\\n  second"))
    'first second'
    """
    return " ".join(str(exc).split()) or type(exc).__name__


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` with a bad argument raised as a :class:`CommandError` (one line,
    naming the subcommand) instead of the usage text and ``sys.exit(2)``.

    Sub-parsers made with ``add_subparsers`` are of this class too.

    >>> parser = ArgumentParser(prog="lr-refimpl table")
    >>> _ = parser.add_argument("--steps", type=int)
    >>> parser.parse_args(["--steps", "x"])
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: table: argument --steps: invalid int value: 'x'
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        raise CommandError(f"{command}: {message}" if command else message)


def check_step_count(count: int, what: str) -> None:
    """Refuse more than :data:`MAX_STEPS` steps; ``what`` says where they come from.

    >>> check_step_count(4690, "--steps")
    >>> check_step_count(10**9, "--samples 1000000000 at --batch-size 1 for --epochs 1")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --samples 1000000000 at --batch-size 1 for --epochs 1 make 1,000,000,000 steps; at most 10,000,000
    """
    if count > MAX_STEPS:
        raise CommandError(f"{what} make {count:,} steps; at most {MAX_STEPS:,}")


def import_extra(module: str, needed_by: str, *, also: Sequence[str] = ()) -> ModuleType:
    """Import ``module`` (and check that the modules ``also`` import) for the command
    ``needed_by``; when any of them, or what it needs, is not installed, one
    :class:`CommandError` naming every extra to install.

    The one lazy entry point from ``refimpl`` into ``keras_adapter``: ``refimpl`` never
    imports it otherwise (a test checks).

    >>> import_extra("no_such_module_here", "lr-refimpl plot")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: lr-refimpl plot needs no_such_module_here, which is not installed
    """
    # Look for what each module needs first, without importing (TensorFlow takes seconds
    # and prints to the terminal), so that one message can name every missing extra.
    missing: dict[str, str | None] = {}  # a missing top-level module: its extra
    for name in (module, *also):
        extra = EXTRAS.get(name.split(".")[0])
        for probe in EXTRA_MODULES.get(extra, ()) if extra else (name.split(".")[0],):
            if importlib.util.find_spec(probe) is None:
                missing[probe] = extra
    if not missing:
        try:
            imported = importlib.import_module(module)
            for name in also:
                importlib.import_module(name)
            return imported
        except ImportError as exc:  # installed, but something it imports is not
            top = (exc.name or module).split(".")[0]
            missing[top] = EXTRAS.get(top)
    names = ", ".join(missing)
    if None in missing.values():
        raise CommandError(f"{needed_by} needs {names}, which is not installed")
    extras = sorted({e for e in missing.values() if e is not None})
    quoted = " and ".join(f"'{e}'" for e in extras)
    raise CommandError(
        f"{needed_by} needs the {quoted} extra{'s' if len(extras) > 1 else ''} ({names} "
        f"{'is' if len(missing) == 1 else 'are'} not installed): "
        f"pip install 'lr-refimpl[{','.join(extras)}]'"
    )


@contextlib.contextmanager
def warnings_as_text(stream: TextIO | None = None) -> Iterator[None]:
    """Show every warning as one line ``lr-refimpl: warning: ...`` on ``stream``
    (standard error): the text only, without the file name and source line Python adds.

    A :class:`refimpl.ScheduleWarning` shows its message; other warnings their category
    too.  Each distinct warning is shown once.
    """
    from refimpl.exceptions import ScheduleWarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = " ".join(str(message).split())
        if not issubclass(category, ScheduleWarning):
            text = f"{category.__name__}: {text}"
        print(f"{PROG}: warning: {text}", file=stream or sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield
