"""The project as users install it: build the sdist and the wheel (from the sdist), check
them, install the wheel into fresh virtual environments -- no extra, ``plot``, ``keras``
-- and run in each what its extras allow, and the one-line "install the extra" error
for what they do not.

Not part of the everyday ``pytest`` run (``-m "not install"`` in pyproject's addopts):
it builds and installs for a few minutes.  ``make test`` (and so CI) runs it as
``make profiles`` (``pytest -m install tests/test_install_profiles.py``).

The environments are made with ``python -m venv --without-pip`` and filled by this
interpreter's pip (``pip --python VENV/bin/python install WHEEL[extra]``): what a user
gets from ``pip install lr-refimpl[extra]``, without bootstrapping pip three times.
pip resolves every dependency itself (the machine's pip configuration applies: a local
mirror where there is one).  The commands run from an empty directory with a clean
environment (no ``PYTHONPATH``), so they import the installed wheel, not this checkout.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from refimpl._version import __version__
from refimpl.datasets._idx import write_idx

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[1]
#: The extras of each profile.
PROFILES = {"bare": "", "plot": "plot", "keras": "keras"}
#: What the source copy leaves out (the build would otherwise see caches and venvs).
JUNK = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", ".hypothesis", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", "build", "dist", "*.egg-info", "demo-report", "lesson-report",
)  # fmt: skip
TIMEOUT = 900  # seconds, for one build or one install


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment with the wheel installed."""

    name: str
    venv: Path
    work: Path  # an empty directory to run commands in
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``lr-refimpl ARGV`` (the console script pip installed), or ``python -c``."""
        program = (
            [str(self.venv / "bin" / "python"), *argv[1:]]
            if argv[0] == "python"
            else [str(self.venv / "bin" / "lr-refimpl"), *argv]
        )
        return subprocess.run(
            program, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH (a checkout on it would look installed) and
    without the outer virtual environment."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == 0, f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built as ``python -m build`` builds them (the wheel from
    the sdist, in an isolated environment), from a copy of this checkout."""
    root = tmp_path_factory.mktemp("build")
    source, out = root / "source", root / "dist"
    shutil.copytree(ROOT, source, ignore=JUNK)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_clean_env(),
    )
    _check(done, "python -m build")
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    (root / "build.log").write_text(done.stdout + done.stderr)
    return {"wheel": wheel, "sdist": sdist, "log": root / "build.log"}


def _tiny_fashion_mnist(directory: Path) -> None:
    directory.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 64), ("t10k", 16)):
        images = rng.integers(0, 256, (n, 28, 28), np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images)
        write_idx(
            directory / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8)
        )


def _install(name: str, wheel: Path, root: Path) -> Installed:
    venv, work = root / name, root / f"{name}-work"
    work.mkdir()
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        ),
        f"venv {name}",
    )
    extra = PROFILES[name]
    requirement = f"{wheel}[{extra}]" if extra else str(wheel)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    env = _clean_env()
    done = subprocess.run(
        [*pip, "install", "--quiet", requirement],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    _check(done, f"pip install {requirement}")
    env |= {
        "FASHION_MNIST_DIR": str(root / "fashion-mnist"),
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "KERAS_BACKEND": "tensorflow",
    }
    return Installed(name, venv, work, env)


@pytest.fixture(scope="session")
def profiles(
    dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Installed]:
    """The three environments, installed side by side (pip mostly waits for I/O)."""
    root = tmp_path_factory.mktemp("profiles")
    _tiny_fashion_mnist(root / "fashion-mnist")
    with concurrent.futures.ThreadPoolExecutor(len(PROFILES)) as pool:
        futures = {n: pool.submit(_install, n, dist["wheel"], root) for n in PROFILES}
        return {n: f.result() for n, f in futures.items()}


# -- the distributions ----------------------------------------------------------------


def test_the_build_is_clean(dist: dict[str, Path]) -> None:
    """No warning from the build backend (a deprecated pyproject field, say)."""
    log = dist["log"].read_text()
    assert not [line for line in log.splitlines() if re.search("warning", line, re.I)], log


def test_twine_check_passes(dist: dict[str, Path]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            str(dist["wheel"]),
            str(dist["sdist"]),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    _check(done, "twine check")


def test_the_wheel_holds_the_packages_and_nothing_else(dist: dict[str, Path]) -> None:
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"refimpl", "keras_adapter", f"lr_refimpl-{__version__}.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert {"refimpl/py.typed", "keras_adapter/py.typed", "refimpl/cli/__main__.py"} <= set(names)
    assert "refimpl/schedules/exponential.py" in names


def test_the_sdist_holds_no_caches(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as archive:
        names = archive.getnames()
    cache = re.compile(r"(__pycache__|\.pyc$|\.hypothesis|\.mypy_cache|\.ruff_cache|\.venv/)")
    assert not [n for n in names if cache.search(n)]
    assert any(n.endswith("/pyproject.toml") for n in names)


# -- what each profile runs -------------------------------------------------------------

TABLE = ["table", "ExponentialDecay", "--steps", "0,937", "--initial-learning-rate", "0.001"]
TABLE += ["--decay-steps", "500", "--decay-rate", "0.98"]
TUTORIAL = ["tutorial", "--epochs", "1", "--limit", "64", "--schedules", "constant,scheduler"]


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("lr-refimpl")]
    assert len(ours) == 1, done.stderr
    assert ours[0].startswith("lr-refimpl: error: ")
    return ours[0]


@pytest.mark.parametrize("name", list(PROFILES))
def test_numpy_commands_run_in_every_profile(name: str, profiles: dict[str, Installed]) -> None:
    installed = profiles[name]
    version = installed.run("--version")
    _check(version, "--version")
    assert version.stdout.strip() == f"lr-refimpl {__version__}"
    _check(installed.run("--help"), "--help")
    table = installed.run(*TABLE)
    _check(table, "table")
    assert "refimpl float32" in table.stdout
    explain = installed.run("explain", "lesson")
    _check(explain, "explain lesson")
    assert "4,690 steps" in explain.stdout


@pytest.mark.parametrize("name", list(PROFILES))
def test_import_refimpl_and_every_schedule(name: str, profiles: dict[str, Installed]) -> None:
    """From the installed wheel (not this checkout), with NumPy only loaded."""
    code = """
import json, sys
import numpy as np
import refimpl
from refimpl import schedules as s
assert "site-packages" in refimpl.__file__, refimpl.__file__
examples = [
    s.ExponentialDecay(0.1, 10, 0.5), s.PiecewiseConstantDecay([10], [0.1, 0.01]),
    s.PolynomialDecay(0.1, 10), s.InverseTimeDecay(0.1, 10, 0.5), s.CosineDecay(0.1, 10),
    s.CosineDecayRestarts(0.1, 10), s.TimeBasedDecay(0.1, 0.01), s.NaturalExpDecay(0.1, 10, 0.5),
    s.LinearCosineDecay(0.1, 10), s.NoisyLinearCosineDecay(0.1, 10, seed=1),
    s.LinearWarmup(s.CosineDecay(0.1, 10), 5), s.SequentialSchedule(
        [s.ExponentialDecay(0.1, 10, 0.5), s.CosineDecay(0.1, 10)], [5]),
]
assert {type(e).__name__ for e in examples} == {*s.KERAS_SCHEDULES, *s.EXTRA_SCHEDULES}
for e in examples:
    assert np.isfinite(e(np.arange(20))).all(), e
heavy = {"tensorflow", "keras", "hypothesis", "matplotlib", "keras_adapter"} & set(sys.modules)
assert not heavy, heavy
print("ok")
"""
    done = profiles[name].run("python", "-c", code)
    _check(done, "import refimpl")
    assert done.stdout.strip() == "ok"


def test_bare_tutorial_writes_the_report_without_figures(profiles: dict[str, Installed]) -> None:
    installed = profiles["bare"]
    done = installed.run(*TUTORIAL, "--out", "report")
    _check(done, "tutorial")
    assert (
        "No figures: matplotlib is not installed (pip install 'lr-refimpl[plot]' adds them)."
        in done.stdout.splitlines()
    )
    files = set(os.listdir(installed.work / "report"))
    assert {"report.md", "results.json"} <= files
    assert not [f for f in files if f.endswith(".png")]


@pytest.mark.parametrize(
    ("name", "argv", "message"),
    [
        (
            "bare",
            ["plot", "exponential", "-o", "x.png"],
            "lr-refimpl plot needs the 'plot' extra (matplotlib is not installed): "
            "pip install 'lr-refimpl[plot]'",
        ),
        (
            "bare",
            ["parity", "--configs", "1"],
            "lr-refimpl parity needs the 'keras' and 'test' extras (tensorflow, keras, "
            "hypothesis are not installed): pip install 'lr-refimpl[keras,test]'",
        ),
        (
            "bare",
            [*TUTORIAL, "--backend", "keras"],
            "lr-refimpl tutorial --backend keras needs the 'keras' extra (tensorflow, keras "
            "are not installed): pip install 'lr-refimpl[keras]'",
        ),
        (
            "plot",
            ["parity"],
            "lr-refimpl parity needs the 'keras' and 'test' extras (tensorflow, keras, "
            "hypothesis are not installed): pip install 'lr-refimpl[keras,test]'",
        ),
        (
            "keras",
            ["parity", "--schedules", "ExponentialDecay", "--configs", "1"],
            "lr-refimpl parity needs the 'test' extra (hypothesis is not installed): "
            "pip install 'lr-refimpl[test]'",
        ),
    ],
)
def test_a_missing_extra_is_one_line(
    name: str, argv: list[str], message: str, profiles: dict[str, Installed]
) -> None:
    assert _one_error(profiles[name].run(*argv)) == f"lr-refimpl: error: {message}"


def test_plot_profile_draws(profiles: dict[str, Installed]) -> None:
    installed = profiles["plot"]
    _check(installed.run("plot", "exponential", "--samples", "60000", "-o", "e.png"), "plot")
    assert (installed.work / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _check(installed.run(*TUTORIAL, "--out", "report"), "tutorial")
    files = set(os.listdir(installed.work / "report"))
    assert {"report.md", "results.json", "validation.png", "rate-scheduler.png"} <= files


def test_keras_profile_trains_with_keras_and_converts(profiles: dict[str, Installed]) -> None:
    installed = profiles["keras"]
    argv = [*TUTORIAL[:-1], "constant", "--backend", "keras", "--out", "report"]
    done = installed.run(*argv, timeout=600)
    _check(done, "tutorial --backend keras")
    assert "Keras 3" in (installed.work / "report" / "report.md").read_text()
    code = (
        "import keras, keras_adapter\n"
        "rate = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)\n"
        "print(keras_adapter.from_keras(keras.optimizers.SGD(rate)).get_config()['decay_rate'])\n"
    )
    converted = installed.run("python", "-c", code, timeout=600)
    _check(converted, "keras_adapter.from_keras")
    assert converted.stdout.strip().splitlines()[-1] == "0.5"


def test_the_stop_hook_check_passes_with_every_extra_blocked(
    profiles: dict[str, Installed],
) -> None:
    """The lead's check: with the optional modules made unimportable, --help, a table and
    explain lesson return 0 from main()."""
    code = """
import sys
for m in ("hypothesis", "tensorflow", "keras", "tf_keras", "matplotlib", "torch", "jax",
          "optax", "h5py"):
    sys.modules[m] = None
from refimpl.cli import main
argvs = (["--help"], ["table", "ExponentialDecay", "--steps", "0,937", "--initial-learning-rate",
         "0.001", "--decay-steps", "500", "--decay-rate", "0.98"], ["explain", "lesson"])
sys.exit(max(main(a) for a in argvs))
"""
    _check(profiles["keras"].run("python", "-c", code), "the stop hook's check")
