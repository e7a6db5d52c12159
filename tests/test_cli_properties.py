"""Property: no argument list makes ``lr-refimpl`` trace back, hang or exit with a status
other than 0, 1 or 2; a status of 2 comes with exactly one ``lr-refimpl: error:`` line.

Hypothesis draws argument lists for every subcommand from its options, the schedule
options, the names NAME may take and values both sensible and hostile (huge, negative,
NaN, empty, unparseable, long, undecodable, expressions that overflow, files that are
not what they claim).  Each list runs in a worker process (tests/_cli_worker.py) with a
time limit: a command that does not answer in time is killed and reported as a hang.

Sizes are drawn so that a *valid* run stays small (a few thousand steps, a 64-image
data set) while invalid sizes -- beyond the step, epoch and count limits -- are drawn
too: the property is about failing cleanly, not about doing big runs.
"""

from __future__ import annotations

import inspect
import json
import os
import queue
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.cli.subjects import SCHEDULES
from refimpl.datasets._idx import write_idx
from refimpl.lesson import LESSON

WORKER = Path(__file__).with_name("_cli_worker.py")
#: Seconds one command may take before it counts as a hang (valid runs here take < 15).
TIME_LIMIT = 60.0

# -- what the arguments are drawn from ------------------------------------------------

SCHEDULE_FLAGS = sorted(
    {
        "--" + name.replace("_", "-")
        for cls in SCHEDULES.values()
        for name in inspect.signature(cls.__init__).parameters
        if name != "self"
    }
    | {"--staircase", "--no-staircase", "--cycle", "--no-cycle"}
)
NAMES = [*SCHEDULES, *(c.key for c in LESSON), "lesson", "LearningRateScheduler"]
FILES = ["config.json", "bare.json", "model.keras", "junk.bin", "dir", "missing.json"]
NUMBERS = ["0", "1", "-1", "2", "0.5", "1e-3", "-0", "1e400", "nan", "inf", "-inf", "1_0"]
HOSTILE = [
    "",
    " ",
    ",",
    "x",
    "--",
    "-",
    str(2**24 + 1),
    str(2**63),
    "-" + str(2**63 + 1),
    "9" * 40,
    "9" * 5000,
    "1" * 100_000,
    "caf\u00e9",
    "\udcff\udcfe",  # undecodable bytes as Python passes them in argv (surrogateescape)
]
EXPRESSIONS = [
    "lr / 3",
    "lambda epoch, lr: lr * 0.5",
    "lr if epoch < 2 else lr / 2",
    "lr / 0",
    "10 ** 400",
    "lr * 9 ** 9 ** 9",
    "exp(1000)",
    "log(0)",
    "(-1) ** 0.5",
    "__import__('os')",
    "lr * " * 300 + "1",
    "-lr",
    "lr * 1e300 * 1e300",
]
STEPS = ["0,937,938,4689", "0:10", "10:0", "0:10:0", "0:100:7", "5", "0", "-3:3", "1,1,1"]
STEPS += [f"{2**24 - 1}:{2**24 + 2}", f"0,{2**63 - 1}", "0:100000000", "0:20000002:2"]


def _mixed(*choices: list[str]) -> st.SearchStrategy[str]:
    every = [c for group in choices for c in group]
    return st.one_of(
        st.sampled_from(every or NUMBERS),
        st.sampled_from(NUMBERS + HOSTILE),
        st.integers(-5, 3000).map(str),
        st.text(st.characters(blacklist_characters="\x00"), max_size=12),
    )


def _sizes(small: int, huge: list[str]) -> st.SearchStrategy[str]:
    """A count: small (a valid run stays small), invalid or beyond every limit."""
    return st.one_of(
        st.integers(-2, small).map(str), st.sampled_from(["x", "1.5", "", *huge, *HOSTILE])
    )


HUGE = [str(10**6), str(10**8), str(10**12), str(2**64)]
VALUES: dict[str, st.SearchStrategy[str]] = {
    "--samples": _sizes(3000, HUGE),
    "--batch-size": _sizes(300, HUGE),
    "--epochs": _sizes(12, HUGE),
    "--limit": _sizes(64, HUGE),
    "--configs": _sizes(2, [str(10**7), *HUGE]),
    "--seed": _sizes(3, ["-1", str(2**63), *HUGE]),
    "--function": st.sampled_from(EXPRESSIONS) | _mixed(),
    "--from-config": st.sampled_from(FILES) | _mixed(),
    "-o": st.sampled_from(["a.png", "b.svg", "c.pdf", "a.txt", "no/such/dir/a.png", "dir"]),
    "--out": st.sampled_from(["out", "config.json", "dir", "no\udcffname", ""]),
    "--backend": st.sampled_from(["numpy", "numpy", "numpy", "torch", "", ",", "numpy,keras"]),
    "--schedules": st.sampled_from(["constant", "decay,scheduler", "exponential", "cosine", ","]),
    "--dtype": st.sampled_from(["float32", "float64", "both", "float16"]),
    "--mode": st.sampled_from(["eager", "graph", "xla", "fast"]),
}
TUTORIAL_EPOCHS = _sizes(2, ["100000", "1000000", str(2**64)])


PLAUSIBLE = ["0.1", "0.001", "1.0", "0.96", "0.5", "2", "3", "100", "500", "1000", "4690"]
EDGES = ["0", "-1", "1", "1e-30", "1e30", "nan", "inf", "-0.5", str(2**31), str(2**24 + 1)]


@st.composite
def schedule_argv(draw: st.DrawFn) -> list[str]:
    """A schedule class and its options, plausible or at the edges, mostly complete."""
    name = draw(st.sampled_from(sorted(set(SCHEDULES) - {"LinearWarmup", "SequentialSchedule"})))
    argv = [name]
    for param in list(inspect.signature(SCHEDULES[name].__init__).parameters.values())[1:]:
        required = param.default is inspect.Parameter.empty
        if not (required and draw(st.integers(0, 19))) and draw(st.booleans()):
            continue  # left out: a required one rarely, an optional one often
        flag = "--" + param.name.replace("_", "-")
        if isinstance(param.default, bool):
            argv.append(draw(st.sampled_from([flag, "--no-" + flag[2:]])))
        elif param.name in ("boundaries", "values"):
            size = draw(st.integers(0, 4))
            items = st.sampled_from(PLAUSIBLE + EDGES[:4])
            argv += [flag, ",".join(draw(st.lists(items, min_size=size, max_size=size)))]
        elif param.name == "name":
            argv += [flag, draw(st.text(st.characters(blacklist_characters="\x00"), max_size=8))]
        else:
            argv += [flag, draw(st.sampled_from(PLAUSIBLE) | st.sampled_from(EDGES))]
    return argv


@st.composite
def subject_argv(draw: st.DrawFn) -> list[str]:
    """NAME for explain and plot: a schedule, a lesson configuration or a scheduler."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return [draw(st.sampled_from([c.key for c in LESSON] + ["lesson"]))]
    if kind == 1:
        lr = draw(st.sampled_from(["0.001", "0.1", "0", "-1", "nan"]))
        function = draw(st.sampled_from(EXPRESSIONS))
        return ["LearningRateScheduler", "--initial-learning-rate", lr, "--function", function]
    return draw(schedule_argv())


@st.composite
def command_args(draw: st.DrawFn, command: str) -> list[str]:
    """An argument list for ``command``: mostly a well-formed call with plausible or edge
    values, else maybe NAME and options in any order, each with a drawn value (or none,
    or a stray value)."""
    if command in ("table", "explain", "plot") and draw(st.integers(0, 9)) < 7:
        argv = [command, *draw(schedule_argv() if command == "table" else subject_argv())]
        if command == "plot":
            argv += ["-o", draw(st.sampled_from(["a.png", "a.png", "b.svg", "no/such/a.png"]))]
        options = {
            "table": [("--steps", st.sampled_from(STEPS))],
            "explain": [(f, VALUES[f]) for f in ("--samples", "--batch-size", "--epochs")],
            "plot": [
                ("--steps", st.sampled_from(STEPS)),
                ("--samples", VALUES["--samples"]),
                ("--batch-size", VALUES["--batch-size"]),
            ],
        }[command]
        for flag, values in options:
            if draw(st.booleans()):
                argv += [flag, draw(values)]
        return argv
    flags = {
        "table": ["--steps", "--from-config", "--help", *SCHEDULE_FLAGS],
        "explain": ["--samples", "--batch-size", "--epochs", "--from-config", "--function"],
        "plot": ["-o", "--steps", "--samples", "--batch-size", "--function", "--log"],
        "tutorial": ["--epochs", "--batch-size", "--limit", "--backend", "--out", "--seed"],
        "parity": ["--configs", "--steps", "--seed", "--dtype", "--mode", "--strict", "--json"],
        "demo": ["--samples", "--batch-size", "--epochs"],
    }[command]
    if command in ("explain", "plot"):
        flags += ["--linear", "--from-config", "--help", *SCHEDULE_FLAGS]
    argv = [command]
    if command in ("table", "explain", "plot") and draw(st.integers(0, 4)):
        argv.append(draw(st.sampled_from(NAMES) | _mixed()))
    if command == "tutorial":  # few configurations: each valid run trains
        argv += ["--schedules", draw(VALUES["--schedules"])]
    if command == "parity":  # one schedule: each valid run evaluates TensorFlow
        argv += ["--schedules", draw(st.sampled_from([*SCHEDULES, "Nope"]))]
        argv += ["--steps", draw(_sizes(3, [str(10**7), *HUGE]))]
    if command == "plot" and draw(st.integers(0, 3)):
        argv += ["-o", draw(VALUES["-o"])]
    for _ in range(draw(st.integers(0, 6))):
        flag = draw(st.sampled_from(flags))
        argv.append(flag)
        if flag in ("--help", "--strict", "--json", "--log", "--linear") or flag.startswith(
            "--no-"
        ):
            continue
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing value
        if command == "tutorial" and flag == "--epochs":
            argv.append(draw(TUTORIAL_EPOCHS))
        elif flag == "--steps":
            argv.append(draw(st.sampled_from(STEPS) | _mixed()))
        elif flag in VALUES:
            argv.append(draw(VALUES[flag]))
        else:
            argv.append(draw(_mixed(["0.1", "100", "0.96", "1000,2000", "0.1,0.01,0.001"])))
    return argv


# -- the worker ----------------------------------------------------------------------


class Worker:
    """The worker process (tests/_cli_worker.py), restarted after a hang or a crash."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.process: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # TensorFlow's C++ logging; main's is captured
            text=True,
            encoding="utf-8",
        )
        self.lines = queue.Queue()

        def read(stream: Any, lines: queue.Queue[str | None]) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, args=(process.stdout, self.lines), daemon=True).start()
        return process

    def run(self, argv: list[str], time_limit: float = TIME_LIMIT) -> dict[str, Any]:
        """The worker's result for ``argv``; ``{"hang": True}`` after ``time_limit``."""
        self.send({"argv": argv})
        while True:
            try:
                line = self.lines.get(timeout=time_limit)
            except queue.Empty:
                self.stop()
                return {"hang": True}
            if line is None:
                self.process = None
                return {"crash": True}
            if line.startswith("RESULT "):
                return dict(json.loads(line[len("RESULT ") :]))

    def send(self, request: dict[str, Any]) -> None:
        """Send one request, starting the worker if it is not running."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _files(root: Path) -> None:
    """The files the drawn arguments name, in the worker's directory."""
    exponential = {
        "class_name": "ExponentialDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    }
    (root / "config.json").write_text(json.dumps(exponential))
    (root / "bare.json").write_text(json.dumps(exponential["config"]))
    (root / "junk.bin").write_bytes(bytes(range(256)) * 4)
    (root / "dir").mkdir()
    model = {"compile_config": {"optimizer": {"config": {"learning_rate": exponential}}}}
    with zipfile.ZipFile(root / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps(model))
    data = root / "fmnist"
    data.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 16)):
        write_idx(data / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("cli-properties")
    _files(root)
    env = {
        **os.environ,
        "FASHION_MNIST_DIR": str(root / "fmnist"),
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "KERAS_BACKEND": "tensorflow",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), *sys.path]),
    }
    running = Worker(root, env)
    yield running
    running.stop()


def check(worker: Worker, argv: list[str]) -> None:
    """The property, for one argument list."""
    result = worker.run(argv)
    shown = " ".join(argv)[:300]
    assert not result.get("hang"), f"no answer within {TIME_LIMIT:.0f} s: {shown}"
    assert not result.get("crash"), f"the worker died: {shown}"
    assert "traceback" not in result, f"{shown}\n{result['traceback']}"
    status, err = result["status"], result["stderr"]
    assert status in (0, 1, 2), (status, shown)
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("lr-refimpl: error: ")]
    assert len(errors) == (1 if status == 2 else 0), (shown, err)
    assert "Traceback" not in err, (shown, err)
    assert not [line for line in lines if ".py:" in line], (shown, err)  # no source lines


#: Examples per command: fewer where each valid run trains or starts TensorFlow.
EXAMPLES = {"table": 100, "explain": 100, "plot": 30, "tutorial": 12, "parity": 10, "demo": 30}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(EXAMPLES))
def test_no_argument_list_fails_badly(worker: Worker, command: str) -> None:
    @settings(max_examples=EXAMPLES[command], deadline=None)
    @given(argv=command_args(command))
    def property_holds(argv: list[str]) -> None:
        check(worker, argv)

    property_holds()


def test_the_harness_sees_a_traceback_and_a_hang(worker: Worker) -> None:
    """A bug that escapes main, and a command stuck in C code (a huge integer power,
    which no signal interrupts), are both reported; the worker restarts afterwards."""
    worker.send({"exec": "import refimpl.cli.demo as d; d.run = lambda args: [][1]"})
    crashed = worker.run(["demo"])
    assert "IndexError" in crashed["traceback"]
    worker.send({"exec": "import refimpl.cli.demo as d; d.run = lambda args: 9 ** 9 ** 9"})
    assert worker.run(["demo"], time_limit=3) == {"hang": True}
    assert worker.run(["demo", "--epochs", "1"])["status"] == 0  # a fresh worker
