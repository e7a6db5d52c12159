"""The lesson's report: ``report.md``, its figures and ``results.json``, written atomically.

:func:`write_report` is called after every finished configuration, so the directory
always holds a complete, valid report of what has finished -- an interrupted run
(Ctrl-C) keeps it.  Every file is written to a temporary name in the same directory and
renamed over the old one (:func:`atomic_write_bytes`): a reader never sees half a file.
Figures are written first and the markdown last, so the report never links to an image
that is not there yet.

``results.json`` (``"format": "lr-refimpl-tutorial"``, ``"version": 1``) holds the
settings, the environment, the status and one record per run: its configuration key,
backend, per-epoch ``loss``/``accuracy``/``val_loss``/``val_accuracy``, the learning
rate of every optimizer step, the wall time and the traps that apply.  :func:`load_results`
reads it back (that is how ``--backend keras`` adds to an earlier NumPy report).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from refimpl._atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "BACKEND_NAMES",
    "FORMAT",
    "RunRecord",
    "Settings",
    "Status",
    "atomic_write_bytes",
    "atomic_write_text",
    "format_duration",
    "load_results",
    "rate_figure_name",
    "render_markdown",
    "results_json",
    "results_table",
    "write_report",
]

FORMAT = "lr-refimpl-tutorial"
_VERSION = 1
VALIDATION_FIGURE = "validation.png"

#: How each backend is called in tables and prose.
BACKEND_NAMES = {"numpy": "refimpl (NumPy)", "keras": "Keras 3"}


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

    >>> format_duration(42.4), format_duration(185), format_duration(3725)
    ('42 s', '3 min 05 s', '1 h 02 min')
    """
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@dataclass
class Settings:
    """What was run: the data slice, the training settings and the command line."""

    epochs: int
    batch_size: int
    seed: int
    train_samples: int
    test_samples: int
    train_available: int = 60_000
    test_available: int = 10_000
    data_dir: str = ""
    command: str = ""

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.train_samples // self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def comparable(self) -> tuple[int, ...]:
        """The fields two runs must share for their results to sit in one report."""
        return (self.epochs, self.batch_size, self.seed, self.train_samples, self.test_samples)


@dataclass
class RunRecord:
    """One configuration trained by one backend."""

    key: str
    label: str
    formula: str
    backend: str
    #: The exact optimizer/callback code this backend ran.
    code: str
    #: Per epoch: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``.
    history: dict[str, list[float]]
    #: The learning rate of every optimizer step, in order (step 0 first).
    rates: list[float]
    steps_per_epoch: int
    seconds: float
    stop_reason: str | None = None
    #: ``"warning: ..."`` / ``"note: ..."`` lines from ``lr-refimpl explain``.
    findings: list[str] = field(default_factory=list)
    #: Said about this backend's run (e.g. how Keras 3 runs the legacy ``decay=``).
    backend_note: str | None = None

    @property
    def epochs_done(self) -> int:
        return len(self.history.get("loss", []))

    def final(self, name: str) -> float:
        values = self.history.get(name, [])
        return float(values[-1]) if values else math.nan

    def epoch_edges(self) -> list[tuple[int, int, float, int, float]]:
        """``(epoch, first step, its rate, last step, its rate)`` for every epoch run."""
        spe, out = self.steps_per_epoch, []
        for e in range(self.epochs_done):
            first, last = e * spe, min((e + 1) * spe, len(self.rates)) - 1
            if first > last:
                break
            out.append((e + 1, first, self.rates[first], last, self.rates[last]))
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = {k: [_finite_or_none(v) for v in vs] for k, vs in self.history.items()}
        data["rates"] = [float(np.float32(r)) for r in self.rates]
        data["seconds"] = round(self.seconds, 3)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        data = dict(data)
        data["history"] = {
            k: [math.nan if v is None else float(v) for v in vs]
            for k, vs in data["history"].items()
        }
        return cls(**data)


def _finite_or_none(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


@dataclass
class Status:
    """Where the run is: ``"running"``, ``"complete"`` or ``"interrupted"``."""

    state: str
    planned: int
    finished: int
    elapsed: float = 0.0
    started: str = ""
    detail: str = ""

    def sentence(self) -> str:
        """The report's status line."""
        runs = f"{self.finished} of {self.planned} run{'s' if self.planned != 1 else ''}"
        if self.state == "complete":
            return f"**Complete**: {runs} finished in {format_duration(self.elapsed)}."
        if self.state == "interrupted":
            return (
                f"**Interrupted** after {format_duration(self.elapsed)}: {runs} finished. The "
                "tables and figures show the finished runs only"
                + (f"; {self.detail}" if self.detail else "")
                + "."
            )
        return (
            f"**Running**: {runs} finished so far ({format_duration(self.elapsed)}); this report "
            "is rewritten after each one."
        )


def rate_figure_name(key: str) -> str:
    """The file name of a configuration's rate-per-step figure.

    >>> rate_figure_name("inverse_time")
    'rate-inverse_time.png'
    """
    return f"rate-{key}.png"


# -- tables ------------------------------------------------------------------------------


def _num(value: float, digits: int = 4) -> str:
    return "NaN" if not math.isfinite(value) else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "NaN" if not math.isfinite(value) else f"{100 * value:.1f}%"


def results_table(records: Sequence[RunRecord], *, markdown: bool = False) -> str:
    """The final epoch's numbers per run, as a text or markdown table.

    >>> r = RunRecord("constant", "SGD(0.001)", "lr = 0.001", "numpy", "", {"loss": [0.5],
    ...     "accuracy": [0.8], "val_loss": [0.6], "val_accuracy": [0.75]}, [0.001], 1, 2.0)
    >>> print(results_table([r]))
    configuration  backend          epochs    loss  accuracy  val loss  val accuracy  seconds
    constant       refimpl (NumPy)       1  0.5000     80.0%    0.6000         75.0%      2.0
    """
    header = [
        "configuration",
        "backend",
        "epochs",
        "loss",
        "accuracy",
        "val loss",
        "val accuracy",
        "seconds",
    ]
    rows = [
        [
            r.key if not markdown else f"{r.key}: `{r.label}`",
            BACKEND_NAMES.get(r.backend, r.backend),
            str(r.epochs_done) + ("*" if r.stop_reason else ""),
            _num(r.final("loss")),
            _pct(r.final("accuracy")),
            _num(r.final("val_loss")),
            _pct(r.final("val_accuracy")),
            f"{r.seconds:.1f}",
        ]
        for r in records
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * 6]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    left = {0, 1}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([fmt(header)] + [fmt(row) for row in rows])


def _per_epoch_table(records: Sequence[RunRecord], metric: str, pct: bool) -> str:
    epochs = max(r.epochs_done for r in records)
    head = "| configuration | backend | " + " | ".join(f"epoch {e}" for e in range(1, epochs + 1))
    lines = [head + " |", "|---|---|" + "---:|" * epochs]
    for r in records:
        values = r.history.get(metric, [])
        cells = [(_pct(v) if pct else _num(v)) for v in values] + [""] * (epochs - len(values))
        lines.append(
            f"| {r.key} | {BACKEND_NAMES.get(r.backend, r.backend)} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


_SHORT = {"numpy": "refimpl", "keras": "Keras"}


def _rate_table(records: Sequence[RunRecord]) -> str:
    """Each epoch's first and last step and the rate there (one rate column per backend)."""
    base = records[0]

    def heads(where: str) -> list[str]:
        if len(records) == 1:
            return [f"rate at {where}"]
        return [f"rate at {where} ({_SHORT.get(r.backend, r.backend)})" for r in records]

    header = ["epoch", "first step", *heads("first"), "last step", *heads("last")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for epoch, first, _, last, _ in base.epoch_edges():
        firsts = [_rate(r, first) for r in records]
        lasts = [_rate(r, last) for r in records]
        cells = [str(epoch), f"{first:,}", *firsts, f"{last:,}", *lasts]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rate(record: RunRecord, step: int) -> str:
    return f"{record.rates[step]:.6g}" if step < len(record.rates) else "–"


def _agreement(records: Sequence[RunRecord]) -> str | None:
    """A sentence on whether the backends used the same rate at every step."""
    if len(records) < 2:
        return None
    a, b = records[0], records[1]
    n = min(len(a.rates), len(b.rates))
    ra = np.asarray(a.rates[:n], dtype=np.float32)
    rb = np.asarray(b.rates[:n], dtype=np.float32)
    differ = np.flatnonzero(ra != rb)
    names = f"{BACKEND_NAMES[a.backend]} and {BACKEND_NAMES[b.backend]}"
    if differ.size == 0:
        return f"{names} used bit-for-bit the same float32 rate at all {n:,} steps."
    rel = float(np.max(np.abs(ra[differ] - rb[differ]) / np.abs(rb[differ]).clip(1e-30)))
    return (
        f"{names} used different rates at {differ.size:,} of {n:,} steps (first at step "
        f"{int(differ[0]):,}; largest relative difference {rel:.2g})."
    )


# -- markdown ----------------------------------------------------------------------------


def _intro(settings: Settings, status: Status, environment: dict[str, str]) -> list[str]:
    spe, total = settings.steps_per_epoch, settings.total_steps
    last_batch = settings.train_samples - (spe - 1) * settings.batch_size
    partial = (
        f" (the last batch has {last_batch} images)" if last_batch != settings.batch_size else ""
    )
    full = -(-60_000 // settings.batch_size)
    sliced = settings.train_samples < settings.train_available
    data = (
        f"Fashion-MNIST from `{settings.data_dir}`: training on "
        + (
            f"the first {settings.train_samples:,} of {settings.train_available:,} training images"
            if sliced
            else f"all {settings.train_samples:,} training images"
        )
        + ", validating on "
        + (
            f"the first {settings.test_samples:,} of the {settings.test_available:,} test images"
            if settings.test_samples < settings.test_available
            else f"all {settings.test_samples:,} test images"
        )
    )
    steps = (
        f"{spe:,} steps an epoch{partial} x {settings.epochs} epoch"
        f"{'s' if settings.epochs != 1 else ''} = {total:,} optimizer steps, numbered 0..{total - 1}"
    )
    if settings.batch_size == 64:
        steps += (
            f". The full lesson (60,000 images, 5 epochs) has {full:,} steps an epoch and "
            f"{5 * full:,} in all, not the ~5,000 the lesson plots"
        )
    backends = ", ".join(
        environment.get(f"backend_{b}", b)
        for b in ("numpy", "keras")
        if f"backend_{b}" in environment
    )
    rows = [
        ("data", data),
        (
            "model",
            "the lesson's CNN: Conv2D(32, 3x3, relu) -> Conv2D(16, 3x3, relu) -> Flatten -> "
            "Dense(10, softmax); 130,394 weights; raw 0-255 pixels, as in the lesson",
        ),
        (
            "training",
            f"SGD without momentum, batch {settings.batch_size}, {settings.epochs} epoch"
            f"{'s' if settings.epochs != 1 else ''}, categorical cross-entropy; seed "
            f"{settings.seed}, so every configuration of a backend starts from the same weights",
        ),
        ("steps", steps),
        (
            "learning rate",
            "each step applies the rate Keras's `model.fit` applies on a CPU: the schedule "
            'in graph mode (`schedule(step, mode="graph")`; the NumPy trainer\'s default, '
            "Keras's default compile)",
        ),
        ("software", backends),
        ("machine", environment.get("machine", "")),
        ("command", f"`{settings.command}`" if settings.command else ""),
    ]
    lines = [
        "# Learning-rate schedules on Fashion-MNIST: the lesson, run",
        "",
        "The lesson (*tutorial-keras-lr-schedules*) trains one small convolutional network "
        "seven times, each time setting the SGD learning rate a different way, and compares "
        "the results. This report is that experiment as it actually ran. A **step** is one "
        "update of the weights with one batch of images; the learning rate a schedule "
        "gives is the size of that update.",
        "",
        status.sentence(),
        "",
        *_shortened(settings),
        "## How it was run",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in rows if v]
    return lines


def _shortened(settings: Settings) -> list[str]:
    """A paragraph for runs shorter than the lesson's 5 epochs on all images."""
    if settings.train_samples >= settings.train_available and settings.epochs >= 5:
        return []
    return [
        f"*This is a shortened run ({settings.total_steps:,} steps).* The lesson's schedules "
        "were written for its ~5,000 steps, so here most of them barely move and some "
        "boundaries are never reached (the warnings below say which). "
        "`lr-refimpl explain lesson` shows every schedule over the full lesson's 4,690 steps; "
        "`lr-refimpl tutorial` runs it.",
        "",
    ]


def render_markdown(
    settings: Settings,
    records: Sequence[RunRecord],
    status: Status,
    *,
    environment: dict[str, str] | None = None,
    order: Sequence[str] = (),
    figures: Iterable[str] = (),
    plots_note: str | None = None,
) -> str:
    """The whole ``report.md``.  ``figures`` are the image files present (others are not
    linked); ``order`` is the configuration order (the lesson's)."""
    env = environment or {}
    have = set(figures)
    lines = _intro(settings, status, env)
    lines += ["", "## Results", ""]
    if not records:
        lines += ["No configuration has finished yet.", ""]
        return "\n".join(lines) + "\n"
    lines += [
        results_table(records, markdown=True),
        "",
        "*loss* and *accuracy* are the means over the last epoch's training batches (the "
        "weights still changing); *val loss* and *val accuracy* are measured on the "
        "validation images after the last epoch. *seconds* is the wall time of training and "
        "validation. An asterisk marks a run stopped early (its section says why).",
    ]
    if {r.backend for r in records} == {"numpy", "keras"}:
        lines += [
            "",
            "The two backends draw different initial weights and shuffle differently, so their "
            "numbers differ by the run-to-run noise of training; compare the trends, not the "
            "last digit.",
        ]
    lines.append("")
    if plots_note:
        lines += [f"*{plots_note}*", ""]
    if VALIDATION_FIGURE in have:
        lines += [
            f"![Validation accuracy and loss after each epoch, one line per configuration]"
            f"({VALIDATION_FIGURE})",
            "",
        ]
    lines += [
        "### Validation accuracy after each epoch",
        "",
        _per_epoch_table(records, "val_accuracy", pct=True),
        "",
        "### Validation loss after each epoch",
        "",
        _per_epoch_table(records, "val_loss", pct=False),
        "",
        "## The configurations",
        "",
        "For each: the lesson's code, the rate as a formula of the step, the rate actually used "
        "at every step of this run (figure), the rate at each epoch's first and last step "
        "(table), and what to watch out for.",
        "",
    ]
    keys = [k for k in order if any(r.key == k for r in records)]
    keys += [k for k in dict.fromkeys(r.key for r in records) if k not in keys]
    for number, key in enumerate(keys, 1):
        group = sorted(
            (r for r in records if r.key == key),
            key=lambda r: list(BACKEND_NAMES).index(r.backend) if r.backend in BACKEND_NAMES else 9,
        )
        head = group[0]
        lines += [
            f"### {number}. {key}: `{head.label}`",
            "",
            f"**Formula:** `{head.formula}`",
            "",
        ]
        for r in group:
            lines.append(f"- {BACKEND_NAMES.get(r.backend, r.backend)} ran `{r.code}`")
            if r.backend_note:
                lines.append(f"  ({r.backend_note})")
        lines.append("")
        fig = rate_figure_name(key)
        if fig in have:
            lines += [f"![Learning rate at every step: {key}]({fig})", ""]
        lines += [_rate_table(group), ""]
        agreement = _agreement(group)
        if agreement:
            lines += [agreement, ""]
        for r in group:
            if r.stop_reason:
                lines += [
                    f"**Stopped early ({BACKEND_NAMES.get(r.backend, r.backend)}):** {r.stop_reason}",
                    "",
                ]
        if head.findings:
            lines += ["What to watch out for:", ""]
            for f in head.findings:
                level, _, text = f.partition(": ")
                mark = "**Warning:** " if level == "warning" else "Note: "
                lines.append(f"- {mark}{text}")
            lines.append("")
    lines += [
        "## Files",
        "",
        "- `report.md`: this report.",
        f"- `{VALIDATION_FIGURE}`: validation accuracy and loss per epoch, all configurations.",
        "- `rate-<configuration>.png`: the learning rate at every step of the run.",
        "- `results.json`: every number above, plus the rate of every step, for your own analysis.",
        "",
        "Made by `lr-refimpl tutorial`; `lr-refimpl explain NAME ...` explains any schedule "
        "over any run, `lr-refimpl plot NAME ...` draws one.",
    ]
    return "\n".join(lines) + "\n"


# -- files -------------------------------------------------------------------------------


def results_json(
    settings: Settings,
    records: Sequence[RunRecord],
    status: Status,
    environment: dict[str, str] | None = None,
) -> str:
    """``results.json``'s text."""
    payload = {
        "format": FORMAT,
        "version": _VERSION,
        "status": asdict(status),
        "settings": asdict(settings),
        "environment": environment or {},
        "runs": [r.to_json() for r in records],
    }
    return json.dumps(payload, indent=1, allow_nan=False) + "\n"


def load_results(
    path: str | os.PathLike[str],
) -> tuple[Settings, list[RunRecord], dict[str, str]]:
    """Read ``results.json`` back: the settings, the runs and the environment.

    Raises:
        ValueError: the file is not JSON, or not a results file of this format.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{os.fspath(path)}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)}: not an lr-refimpl tutorial results file")
    if data.get("version") != _VERSION:
        raise ValueError(
            f"{os.fspath(path)}: results format version {data.get('version')}, expected {_VERSION}"
        )
    try:
        settings = Settings(**data["settings"])
        records = [RunRecord.from_json(r) for r in data["runs"]]
        environment = {str(k): str(v) for k, v in dict(data.get("environment", {})).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)}: malformed results file ({exc})") from None
    return settings, records, environment


def write_report(
    out_dir: str | os.PathLike[str],
    settings: Settings,
    records: Sequence[RunRecord],
    status: Status,
    *,
    environment: dict[str, str] | None = None,
    order: Sequence[str] = (),
    redraw: Iterable[str] | None = None,
) -> str:
    """Write the figures, ``results.json`` and ``report.md`` into ``out_dir``; return the
    report's path.

    ``redraw`` names the configurations whose rate figure changed (default: all);
    the validation figure is always redrawn.  Without matplotlib the report is written
    without figures and says so.
    """
    from refimpl import plotting

    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    plots_note = None
    figures: list[str] = []
    if any(r.rates for r in records) and plotting.matplotlib_available():
        keys = list(dict.fromkeys(r.key for r in records))
        index = {k: i for i, k in enumerate(order)}
        targets = set(keys if redraw is None else redraw)
        for key in keys:
            if not any(r.rates for r in records if r.key == key):
                continue
            name = rate_figure_name(key)
            if key in targets or not os.path.exists(os.path.join(out, name)):
                group = [r for r in records if r.key == key]
                plotting.save(os.path.join(out, name), _rate_png(group, index.get(key, 0)))
            figures.append(name)
        series = [
            plotting.EpochSeries(
                label=r.key,
                val_accuracy=r.history.get("val_accuracy", []),
                val_loss=r.history.get("val_loss", []),
                backend=r.backend,
                color=plotting.color_for(index.get(r.key, 0)),
                marker=plotting.marker_for(index.get(r.key, 0)),
            )
            for r in records
            if r.epochs_done
        ]
        if series:
            plotting.save(os.path.join(out, VALIDATION_FIGURE), plotting.validation_figure(series))
            figures.append(VALIDATION_FIGURE)
    elif records:
        plots_note = "No figures: matplotlib is not installed (pip install 'lr-refimpl[plot]')."
    atomic_write_text(
        os.path.join(out, "results.json"), results_json(settings, records, status, environment)
    )
    report = os.path.join(out, "report.md")
    atomic_write_text(
        report,
        render_markdown(
            settings,
            records,
            status,
            environment=environment,
            order=order,
            figures=figures,
            plots_note=plots_note,
        ),
    )
    return report


def _rate_png(group: Sequence[RunRecord], index: int) -> bytes:
    from refimpl import plotting

    head = group[0]
    series = [
        plotting.RateSeries(
            label=BACKEND_NAMES.get(r.backend, r.backend),
            steps=np.arange(len(r.rates)),
            rates=np.asarray(r.rates, dtype=np.float64),
            backend=r.backend,
            color=plotting.color_for(index),
        )
        for r in group
        if r.rates
    ]
    return plotting.rate_figure(
        series,
        title=f"{head.key}: {head.label}",
        subtitle=head.formula,
        steps_per_epoch=head.steps_per_epoch,
    )
