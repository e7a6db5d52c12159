"""``lr-refimpl tutorial``: run the lesson -- one CNN per learning-rate configuration -- and
write a report a teacher can hand out.

The lesson (``tutorial-keras-lr-schedules``) trains the same small CNN on Fashion-MNIST
seven times, with SGD at batch 64 for 5 epochs, setting the learning rate a different
way each time: a constant 0.001; the legacy ``decay=0.001/5``; ExponentialDecay;
PiecewiseConstantDecay; PolynomialDecay; InverseTimeDecay; and a LearningRateScheduler
callback dividing the rate by 3 every epoch.  This command runs them (or those named in
``--schedules``) with a progress line per epoch, prints a results table, and writes into
``--out``:

  report.md           the table, the figures, and per configuration its formula and the
                      rate at the first and last step of each epoch, with the traps
  rate-<name>.png     the learning rate at every step of the run, epochs marked
  validation.png      validation accuracy and loss per epoch, all configurations
  results.json        every number, including the rate of every step

The report is rewritten after each finished configuration: stop with Ctrl-C and it
still holds everything that finished.  ``--backend keras`` trains the same
configurations with Keras 3 (``--backend numpy,keras`` both); a second run into the same
``--out`` with the same settings adds its runs to the report, so the two can be
compared side by side.  Keras 3 ignores ``SGD(decay=...)``: its run of the ``decay``
configuration uses ``InverseTimeDecay(0.001, 1, 0.0002)``, the legacy formula.

``--limit N`` trains on the first N training images and validates on the same share of
the test images (N/6, the lesson's 60,000:10,000 ratio) -- for a quick look.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl import plotting
from refimpl._version import __version__
from refimpl.cli.common import CommandError, import_extra, one_line
from refimpl.cli.explain import findings
from refimpl.cli.subjects import RunShape, short_repr, subject_from_lesson
from refimpl.lesson import LESSON, LessonConfig
from refimpl.report import (
    BACKEND_NAMES,
    RunRecord,
    Settings,
    Status,
    format_duration,
    load_results,
    results_table,
    write_report,
)

__all__ = [
    "BACKENDS",
    "KERAS_TRAINER",
    "MAX_TRAINING_EPOCHS",
    "LessonData",
    "add_parser",
    "load_lesson_data",
    "parse_backends",
    "parse_schedules",
    "record_run",
    "run",
    "train_keras",
    "train_numpy",
]

BACKENDS = ("numpy", "keras")
DEFAULT_OUT = "lesson-report"

#: Other names accepted by ``--schedules`` for the lesson's configuration keys.
ALIASES = {
    "sgd": "constant",
    "timebaseddecay": "decay",
    "exponentialdecay": "exponential",
    "piecewiseconstantdecay": "piecewise",
    "polynomialdecay": "polynomial",
    "inversetimedecay": "inverse_time",
    "inverse-time": "inverse_time",
    "learningratescheduler": "scheduler",
}


def parse_schedules(text: str | None) -> list[LessonConfig]:
    """The lesson configurations named in ``--schedules`` (all seven for None), in the
    lesson's order.

    >>> [c.key for c in parse_schedules("scheduler,ExponentialDecay")]
    ['exponential', 'scheduler']
    >>> parse_schedules("cosine")
    Traceback (most recent call last):
    refimpl.cli.common.CommandError: --schedules: unknown configuration 'cosine'; choose from constant, decay, exponential, piecewise, polynomial, inverse_time, scheduler (or their class names)
    """
    if text is None:
        return list(LESSON)
    keys = {c.key for c in LESSON}
    wanted: set[str] = set()
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        key = name if name in keys else ALIASES.get(name.lower(), name.lower())
        if key not in keys:
            raise CommandError(
                f"--schedules: unknown configuration {name!r}; choose from "
                f"{', '.join(c.key for c in LESSON)} (or their class names)"
            )
        wanted.add(key)
    if not wanted:
        raise CommandError("--schedules: name at least one configuration")
    return [c for c in LESSON if c.key in wanted]


def parse_backends(text: str) -> list[str]:
    """``numpy``, ``keras`` or ``numpy,keras``.

    >>> parse_backends("keras,numpy")
    ['numpy', 'keras']
    """
    names = {b.strip().lower() for b in text.split(",") if b.strip()}
    bad = names - set(BACKENDS)
    if bad or not names:
        raise CommandError(f"--backend: choose numpy, keras or numpy,keras. Received: {text!r}")
    return [b for b in BACKENDS if b in names]


@dataclass
class LessonData:
    """The lesson's arrays: images ``(n, 28, 28, 1)`` uint8, one-hot float32 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_available: int
    test_available: int
    directory: str


def load_lesson_data(limit: int | None) -> LessonData:
    """Fashion-MNIST as the lesson prepares it, sliced by ``--limit``."""
    from refimpl.datasets import fashion_mnist

    try:
        directory = fashion_mnist.locate()
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(directory)
    except (OSError, ValueError) as exc:  # missing, unreadable or damaged files
        raise CommandError(one_line(exc)) from None
    n_train, n_test = len(x_train), len(x_test)
    train = n_train if limit is None else min(limit, n_train)
    test = n_test if train >= n_train else min(n_test, math.ceil(train * n_test / n_train))
    eye = np.eye(10, dtype=np.float32)
    return LessonData(
        x_train=x_train[:train].reshape(-1, 28, 28, 1),
        y_train=eye[y_train[:train]],
        x_test=x_test[:test].reshape(-1, 28, 28, 1),
        y_test=eye[y_test[:test]],
        train_available=n_train,
        test_available=n_test,
        directory=directory,
    )


# -- the two backends --------------------------------------------------------------------


def train_numpy(
    config: LessonConfig, data: LessonData, settings: Settings, verbose: int
) -> RunRecord:
    """Train the lesson's CNN with refimpl (NumPy) under ``config``."""
    from refimpl import Sequential, layers
    from refimpl.callbacks import Callback, LearningRateScheduler
    from refimpl.optimizers import SGD
    from refimpl.utils import set_random_seed

    rates: list[float] = []

    class RateRecorder(Callback):
        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            rates.append(float(self.model.optimizer.learning_rate))

    set_random_seed(settings.seed)
    model = Sequential(
        [
            layers.Conv2D(32, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    callbacks: list[Callback] = [RateRecorder()]
    note = None
    if config.optimizer_decay:
        optimizer = SGD(learning_rate=config.learning_rate, decay=config.optimizer_decay)
        code = f"SGD(learning_rate={config.learning_rate:g}, decay={config.optimizer_decay:g})"
        note = "refimpl applies the legacy decay=, as tf_keras.optimizers.legacy.SGD does"
    elif config.schedule is not None:
        schedule = config.schedule()
        optimizer = SGD(learning_rate=schedule)
        code = f"SGD(learning_rate={short_repr(schedule)})"
    else:
        optimizer = SGD(learning_rate=config.learning_rate)
        code = f"SGD(learning_rate={config.learning_rate:g})"
    if config.epoch_function is not None:
        callbacks.append(LearningRateScheduler(config.epoch_function))
        code += " with callbacks=[LearningRateScheduler(lambda epoch, lr: lr / 3)]"
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a NaN stop is in stop_reason
        history = model.fit(
            data.x_train,
            data.y_train,
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=(data.x_test, data.y_test),
        )
    seconds = time.perf_counter() - start
    return record_run(
        config, "numpy", code, history.history, rates, settings, seconds, model.stop_reason, note
    )


#: The module holding the Keras 3 trainer (it needs TensorFlow, so it lives in
#: ``keras_adapter``), reached only through :func:`refimpl.cli.common.import_extra`.
KERAS_TRAINER = "keras_adapter.lesson"


def train_keras(
    config: LessonConfig, data: LessonData, settings: Settings, verbose: int
) -> RunRecord:
    """Train the lesson's CNN with Keras 3 under ``config`` (:mod:`keras_adapter.lesson`)."""
    record: RunRecord = _keras_trainer().train(config, data, settings, verbose)
    return record


def _keras_trainer() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    return import_extra(KERAS_TRAINER, "lr-refimpl tutorial --backend keras")


def record_run(
    config: LessonConfig,
    backend: str,
    code: str,
    history: dict[str, list[Any]],
    rates: list[float],
    settings: Settings,
    seconds: float,
    stop_reason: str | None,
    note: str | None,
) -> RunRecord:
    """The :class:`RunRecord` of a finished run, with the traps of ``config``."""
    keep = ("loss", "accuracy", "val_loss", "val_accuracy")
    hist = {k: [float(v) for v in history.get(k, [])] for k in keep}
    shape = RunShape(settings.train_samples, settings.batch_size, settings.epochs)
    subject = subject_from_lesson(config)
    return RunRecord(
        key=config.key,
        label=config.label,
        formula=config.formula,
        backend=backend,
        code=code,
        history=hist,
        rates=[float(r) for r in rates],
        steps_per_epoch=shape.steps_per_epoch,
        seconds=seconds,
        stop_reason=stop_reason,
        findings=[str(f) for f in findings(subject, shape)],
        backend_note=note,
    )


TRAINERS: dict[str, Callable[[LessonConfig, LessonData, Settings, int], RunRecord]] = {
    "numpy": train_numpy,
    "keras": train_keras,
}


# -- command line ------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register ``tutorial``."""
    p = sub.add_parser(
        "tutorial",
        help="run the lesson: train the CNN once per schedule, write a report with plots",
        description=__doc__.replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--epochs", type=int, default=5, help="epochs per configuration (default 5)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="train on the first N training images (and N/6 test images); default all",
    )
    p.add_argument(
        "--schedules",
        metavar="NAME,...",
        help="configurations to run: " + ", ".join(c.key for c in LESSON) + " (default all)",
    )
    p.add_argument(
        "--backend",
        default="numpy",
        metavar="numpy|keras",
        help="numpy (refimpl, default), keras (Keras 3), or numpy,keras for both",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"report directory (default {DEFAULT_OUT})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling (default 0)")
    p.set_defaults(run=run)


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise CommandError(f"{name} must be >= 1. Received: {value}")


def _command(args: argparse.Namespace) -> str:
    parts = ["lr-refimpl", "tutorial", "--epochs", str(args.epochs)]
    if args.batch_size != 64:
        parts += ["--batch-size", str(args.batch_size)]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.schedules:
        parts += ["--schedules", args.schedules]
    if args.backend != "numpy":
        parts += ["--backend", args.backend]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    parts += ["--out", args.out]
    return " ".join(shlex.quote(p) for p in parts)


def _environment(backends: list[str]) -> dict[str, str]:
    env = {
        "backend_numpy": f"refimpl {__version__} (NumPy {np.__version__})",
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    }
    if "keras" in backends:
        env["backend_keras"] = _keras_trainer().environment()
    return env


def _previous(
    out: str, settings: Settings, plan: set[tuple[str, str]]
) -> tuple[list[RunRecord], dict[str, str]]:
    """Runs kept from an earlier report in ``out`` made with the same settings."""
    path = os.path.join(out, "results.json")
    if not os.path.exists(path):
        return [], {}
    try:
        old_settings, records, env = load_results(path)
    except (ValueError, OSError) as exc:
        print(f"Note: replacing {path} ({' '.join(str(exc).split())}).")
        return [], {}
    if old_settings.comparable() != settings.comparable():
        print(
            f"Note: replacing the report in {out}: it was made with other settings "
            f"({old_settings.command or 'unknown command'})."
        )
        return [], {}
    kept = [r for r in records if (r.key, r.backend) not in plan]
    if kept:
        print(f"Keeping {len(kept)} earlier run(s) from {path} (same settings).")
    return kept, env


def _ordered(records: list[RunRecord]) -> list[RunRecord]:
    order = {c.key: i for i, c in enumerate(LESSON)}
    return sorted(
        records,
        key=lambda r: (
            order.get(r.key, 99),
            BACKENDS.index(r.backend) if r.backend in BACKENDS else 9,
        ),
    )


def _write(out: str, *args: Any, **kwargs: Any) -> str:
    """:func:`refimpl.report.write_report`; a file that cannot be written is the user's
    ``--out`` (a full disk, no permission), so one line."""
    try:
        return write_report(out, *args, **kwargs)
    except OSError as exc:
        raise CommandError(f"--out {out}: cannot write the report ({one_line(exc)})") from None


#: The most epochs the tutorial trains per configuration (the lesson trains 5; explain
#: and plot, which only evaluate schedules, allow many more).
MAX_TRAINING_EPOCHS = 1_000


def run(args: argparse.Namespace) -> int:
    """Train every planned (configuration, backend), rewriting the report after each."""
    for name, value in (
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        ("--limit", args.limit),
    ):
        _check_positive(name, value)
    if args.epochs > MAX_TRAINING_EPOCHS:
        raise CommandError(
            f"--epochs must be at most {MAX_TRAINING_EPOCHS:,} for the tutorial (it trains "
            f"every configuration that long). Received: {args.epochs}"
        )
    if not 0 <= args.seed < 2**63:
        raise CommandError(f"--seed must be an integer from 0 to 2**63 - 1. Received: {args.seed}")
    configs = parse_schedules(args.schedules)
    backends = parse_backends(args.backend)
    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise CommandError(f"--out {out} exists and is not a directory")
    env = _environment(backends)  # fails early when Keras is asked for and missing
    data = load_lesson_data(args.limit)
    shape = RunShape(len(data.x_train), args.batch_size, args.epochs)  # within the limits
    settings = Settings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        train_samples=len(data.x_train),
        test_samples=len(data.x_test),
        train_available=data.train_available,
        test_available=data.test_available,
        data_dir=data.directory,
        command=_command(args),
    )
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"--out {out}: {exc.strerror or one_line(exc)}") from None
    plan = [(c, b) for c in configs for b in backends]
    kept, old_env = _previous(out, settings, {(c.key, b) for c, b in plan})
    env = {**old_env, **env}
    print(
        f"Fashion-MNIST from {data.directory}: training on {settings.train_samples:,} of "
        f"{data.train_available:,} images, validating on {settings.test_samples:,} of "
        f"{data.test_available:,}."
    )
    print(shape.describe())
    if not plotting.matplotlib_available():
        print("No figures: matplotlib is not installed (pip install 'lr-refimpl[plot]' adds them).")
    order = [c.key for c in LESSON]
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    status = Status("running", len(plan), 0, started=started)
    records = list(kept)
    report = _write(out, settings, _ordered(records), status, environment=env, order=order)
    verbose = 1 if sys.stdout.isatty() else 2
    t0 = time.perf_counter()
    current = ""
    try:
        for i, (config, backend) in enumerate(plan, 1):
            current = f"{config.key} ({BACKEND_NAMES[backend]})"
            print(f"\n[{i}/{len(plan)}] {config.key}: {config.label} -- {BACKEND_NAMES[backend]}")
            record = TRAINERS[backend](config, data, settings, verbose)
            records = [r for r in records if (r.key, r.backend) != (config.key, backend)]
            records.append(record)
            status.finished = i
            status.elapsed = time.perf_counter() - t0
            status.state = "complete" if i == len(plan) else "running"
            report = _write(
                out,
                settings,
                _ordered(records),
                status,
                environment=env,
                order=order,
                redraw=[config.key],
            )
    except KeyboardInterrupt:
        status.state = "interrupted"
        status.elapsed = time.perf_counter() - t0
        status.detail = f"{current} was running"
        report = _write(
            out, settings, _ordered(records), status, environment=env, order=order, redraw=[]
        )
        print(
            f"\nInterrupted during {current}: {status.finished} of {len(plan)} runs finished; "
            f"{report} holds them.",
            file=sys.stderr,
        )
        return 130
    print("\nResults after the last epoch:\n")
    print(results_table(_ordered(records)))
    print(f"\nReport: {report} (figures and results.json in {out}/)")
    numpy_records = [r for r in records if r.backend == "numpy" and r.epochs_done]
    if settings.train_samples < data.train_available or settings.epochs < 5:
        estimate = ""
        if numpy_records:
            per = sum(r.seconds for r in numpy_records) / (
                len(numpy_records) * settings.train_samples * settings.epochs
            )
            full = per * data.train_available * 5 * len(LESSON)
            estimate = f"; about {format_duration(full)} here, estimated from this run"
        print(
            "This was a shortened run. The full lesson (all seven configurations, 5 epochs on "
            f"all {data.train_available:,} images{estimate}):\n"
            f"  lr-refimpl tutorial --out {DEFAULT_OUT}"
        )
    return 0
