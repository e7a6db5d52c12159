"""The lesson's CNN: refimpl's trainer against Keras 3 (TensorFlow CPU), measured interleaved.

Only ratios taken side by side mean anything on a shared machine (timings drift by up
to 1.7x within minutes), so every measurement runs in its own child process and the
systems alternate, round after round, in one run.  Reported per batch size: the epoch
time of each system, the ratio refimpl / Keras per round (median and range), CPU time
(the child's and its worker processes'), and peak memory **counting every process**:
the sum of the proportional set sizes (PSS, ``/proc/<pid>/smaps_rollup``: shared pages
split between the processes sharing them) of the child and its workers, sampled every
20 ms, against Keras's PSS sampled the same way (peak RSS too, for reference).

Per child: load Fashion-MNIST (raw uint8 pixels, one-hot float64 labels, as the lesson),
build the lesson's model, warm up on 256 images (Keras traces its train step there),
then time ``fit(epochs=1, batch_size=B, verbose=0)`` on the 60,000 training images with
SGD(0.001).  refimpl runs with its defaults (``REFIMPL_WORKERS``: usable CPUs, forked
processes); ``--variants`` adds refimpl runs with another convolution algorithm
(``REFIMPL_CONV_ALGORITHM``, see :mod:`refimpl.layers`).

Usage (the lead's command for the final figures, on a quiet machine)::

    .venv/bin/python benchmarks/trainer.py --batch-sizes 64 256 --rounds 5 --variants winograd4
    .venv/bin/python benchmarks/trainer.py --lesson --rounds 2   # lr-refimpl tutorial, both backends
    .venv/bin/python benchmarks/trainer.py --parity-seeds 5      # weights vs Keras, per algorithm
    .venv/bin/python benchmarks/trainer.py --profile             # CPU time per layer, 1 worker

Goals (issue 14): epoch time <= 0.6x Keras's at batch 64 (moonshot 0.5x) and <= 0.75x at
batch 256; peak memory (PSS, all processes) <= 0.35x Keras's; the lesson faster with the
NumPy backend than with ``--backend keras``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

SAMPLES = 60_000
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _flops_per_training_image() -> float:
    """Multiply-adds x 2 of forward, weight-gradient and input-gradient products
    (direct convolution: what im2col computes; Winograd does fewer)."""
    conv1 = 2 * 28 * 28 * (3 * 3 * 1) * 32
    conv2 = 2 * 28 * 28 * (3 * 3 * 32) * 16
    dense = 2 * (28 * 28 * 16) * 10
    return 2 * conv1 + 3 * conv2 + 3 * dense  # conv1 needs no input gradient


# -- memory: PSS of a process tree -------------------------------------------------------


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


class _PeakPss:
    """Samples the PSS summed over this process and its children every 20 ms."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.02):
            total = _pss_kb(me) + sum(_pss_kb(c) for c in _children(me))
            self.peak_kb = max(self.peak_kb, total)

    def __enter__(self) -> _PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- one measurement (in a child process) -----------------------------------------------------


def _load(samples: int) -> tuple[Any, Any]:
    import numpy as np

    try:
        from refimpl.datasets import fashion_mnist

        (x, y), _ = fashion_mnist.load_data()
        source = "fashion-mnist"
    except Exception as exc:  # no data set here: same shapes and dtypes, random pixels
        print(f"# Fashion-MNIST unavailable ({exc}); using random uint8 images", file=sys.stderr)
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (SAMPLES, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, SAMPLES).astype(np.uint8)
        source = "random"
    x = x[:samples].reshape(-1, 28, 28, 1)
    onehot = np.zeros((len(x), 10))  # float64, as keras.utils.to_categorical
    onehot[np.arange(len(x)), y[:samples]] = 1
    os.environ["BENCH_DATA_SOURCE"] = source
    return x, onehot


def _model(system: str) -> tuple[Any, Any]:
    if system == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
        import keras
        from keras import layers

        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(32, (3, 3), padding="same", activation="relu"),
                layers.Conv2D(16, (3, 3), padding="same", activation="relu"),
                layers.Flatten(),
                layers.Dense(10, activation="softmax"),
            ]
        )
        return model, keras.optimizers.SGD(learning_rate=0.001)
    import refimpl as keras_like
    from refimpl import layers as rlayers

    keras_like.utils.set_random_seed(0)
    model = keras_like.Sequential(
        [
            rlayers.Conv2D(32, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)),
            rlayers.Conv2D(16, (3, 3), padding="same", activation="relu"),
            rlayers.Flatten(),
            rlayers.Dense(10, activation="softmax"),
        ]
    )
    return model, keras_like.optimizers.SGD(learning_rate=0.001)


def _child(system: str, batch: int, samples: int) -> dict[str, Any]:
    x, y = _load(samples)
    model, optimizer = _model(system)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x[:256], y[:256], batch_size=batch, epochs=1, verbose=0)
    warmup = time.perf_counter() - t0
    with _PeakPss() as pss:
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        hist = model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        seconds = time.perf_counter() - t0
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time() - cpu0
        cpu += (kids.ru_utime - kids0.ru_utime) + (kids.ru_stime - kids0.ru_stime)
    result = {
        "system": system,
        "batch": batch,
        "samples": len(x),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "warmup_seconds": warmup,
        "peak_pss_mb": pss.peak_kb / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss": float(hist.history["loss"][0]),
        "accuracy": float(hist.history["accuracy"][0]),
        "data": os.environ.get("BENCH_DATA_SOURCE"),
        "algorithm": os.environ.get("REFIMPL_CONV_ALGORITHM", "default"),
    }
    if system == "refimpl":
        result["conv_algorithms"] = [
            getattr(layer, "resolved_algorithm", None) for layer in model.layers
        ]
    return result


def _run_child(system: str, batch: int, samples: int, variant: str | None) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", system, "--batch", str(batch)]
    cmd += ["--samples", str(samples)]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if variant:
        env["REFIMPL_CONV_ALGORITHM"] = variant
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{system} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _range(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _epochs(args: argparse.Namespace) -> int:
    systems = ["keras", "refimpl"] + [f"refimpl:{v}" for v in args.variants]
    flops = _flops_per_training_image()
    print(
        f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{flops / 1e6:.1f} MFLOP per training image (direct); {args.rounds} rounds, interleaved"
    )
    summary = []
    for batch in args.batch_sizes:
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
        for r in range(args.rounds):
            order = systems if r % 2 == 0 else systems[::-1]
            for name in order:
                system, _, variant = name.partition(":")
                res = _run_child(system, batch, args.samples, variant or None)
                runs[name].append(res)
                n = res["samples"]
                print(
                    f"batch {batch:4d} round {r + 1} {name:18s}: {res['seconds']:6.1f} s/epoch "
                    f"{n / res['seconds']:7.0f} img/s  PSS {res['peak_pss_mb']:6.0f} MB  "
                    f"RSS {res['peak_rss_mb']:6.0f} MB  cpu {res['cpu_seconds']:5.1f} s  "
                    f"(warm-up {res['warmup_seconds']:.1f} s, loss {res['loss']:.3f}, "
                    f"acc {res['accuracy']:.3f}, data {res['data']}, "
                    f"conv {res.get('conv_algorithms', '')})",
                    flush=True,
                )
        summary.append((batch, runs))
    print("\n# summary: ratio = refimpl / keras, per round; median (min-max)")
    print(
        f"{'batch':>5} {'system':18s} {'s/epoch':>8} {'time ratio':>18} {'cpu ratio':>18} "
        f"{'PSS MB':>7} {'PSS ratio':>18} {'RSS MB':>7}"
    )
    for batch, runs in summary:
        keras = runs["keras"]
        for name, res in runs.items():
            t = [a["seconds"] / b["seconds"] for a, b in zip(res, keras, strict=True)]
            c = [a["cpu_seconds"] / b["cpu_seconds"] for a, b in zip(res, keras, strict=True)]
            m = [a["peak_pss_mb"] / b["peak_pss_mb"] for a, b in zip(res, keras, strict=True)]
            print(
                f"{batch:5d} {name:18s} {statistics.median(a['seconds'] for a in res):8.1f} "
                f"{_range(t):>18} {_range(c):>18} "
                f"{max(a['peak_pss_mb'] for a in res):7.0f} {_range(m):>18} "
                f"{max(a['peak_rss_mb'] for a in res):7.0f}"
            )
    print(
        "goals: time ratio <= 0.6 at batch 64 (moonshot 0.5), <= 0.75 at batch 256; "
        "PSS ratio <= 0.35"
    )
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


def _lesson(args: argparse.Namespace) -> int:
    """``lr-refimpl tutorial`` with each backend, alternating, in fresh output folders."""
    import tempfile

    extra = shlex.split(args.lesson_args)
    times: dict[str, list[float]] = {"numpy": [], "keras": []}
    accuracy: dict[str, dict[str, list[float]]] = {"numpy": {}, "keras": {}}
    print(f"# lr-refimpl tutorial {' '.join(extra)}; load average {os.getloadavg()[0]:.2f}")
    for r in range(args.rounds):
        for backend in ("numpy", "keras") if r % 2 == 0 else ("keras", "numpy"):
            with tempfile.TemporaryDirectory() as out:
                cmd = [sys.executable, "-m", "refimpl.cli", "tutorial", "--backend", backend]
                cmd += ["--out", out, *extra]
                env = dict(os.environ)
                env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                seconds = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise RuntimeError(f"{backend} tutorial failed:\n{proc.stderr[-3000:]}")
                with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
                    for run in json.load(f)["runs"]:
                        final = run["history"]["val_accuracy"][-1]
                        accuracy[backend].setdefault(run["key"], []).append(final)
            times[backend].append(seconds)
            print(f"round {r + 1} {backend:5s}: {seconds:7.1f} s", flush=True)
    ratios = [a / b for a, b in zip(times["numpy"], times["keras"], strict=True)]
    print(f"numpy / keras: {_range(ratios)}   (goal: < 1)")
    print("final test accuracy per configuration (median over rounds), numpy - keras:")
    for key, ours in accuracy["numpy"].items():
        a, b = statistics.median(ours), statistics.median(accuracy["keras"][key])
        print(f"  {key:14s} numpy {a:.4f}  keras {b:.4f}  {100 * (a - b):+.2f} points")
    return 0


def _parity_seeds(args: argparse.Namespace) -> int:
    """The lesson's model trained for 64 steps by Keras and by refimpl from the same
    weights (tests/test_keras_trainer_parity.py's set-up, data and Keras seeds 1..N):
    the worst relative weight error per convolution algorithm."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import test_keras_trainer_parity as parity

    from refimpl import Sequential, layers
    from refimpl.optimizers import SGD
    from refimpl.schedules import ExponentialDecay
    from refimpl.utils import to_categorical

    algorithms = ["im2col", "winograd2", "winograd4"]
    print(f"# worst weight relative error over 4 epochs (bound in the test: {parity.RTOL})")
    print("seed " + " ".join(f"{a:>10}" for a in algorithms))
    rng = np.random.default_rng
    for seed in range(1, args.parity_seeds + 1):
        parity.np.random.default_rng = lambda s=None, _s=seed: rng(_s if s == 1 else s)
        x, labels = parity._data()
        parity.np.random.default_rng = rng
        y = to_categorical(labels, 10)
        keras.utils.set_random_seed(seed)
        km = parity._keras_model(keras)
        schedule = keras.optimizers.schedules.ExponentialDecay(0.0002, 10, 0.9)
        km.compile(
            optimizer=keras.optimizers.SGD(schedule, momentum=0.5), loss="categorical_crossentropy"
        )
        start = km.get_weights()
        reference = []
        for _ in range(parity.EPOCHS):
            km.fit(x, y, batch_size=parity.BATCH, epochs=1, shuffle=False, verbose=0)
            reference.append(km.get_weights())
        worst = []
        for algorithm in algorithms:
            om = Sequential(
                [
                    layers.Conv2D(
                        32, 3, padding="same", activation="relu", input_shape=(28, 28, 1)
                    ),
                    layers.Conv2D(16, 3, padding="same", activation="relu", algorithm=algorithm),
                    layers.Flatten(),
                    layers.Dense(10, activation="softmax"),
                ]
            )
            om.set_weights(start)
            om.compile(
                SGD(ExponentialDecay(0.0002, 10, 0.9), momentum=0.5), "categorical_crossentropy"
            )
            err = 0.0
            for want in reference:
                om.fit(x, y, batch_size=parity.BATCH, epochs=1, shuffle=False, verbose=0)
                err = max(
                    err, max(parity._rel(o, k) for o, k in zip(om.get_weights(), want, strict=True))
                )
            worst.append(err)
        print(f"{seed:4d} " + " ".join(f"{e:10.1e}" for e in worst), flush=True)
    return 0


def _profile(args: argparse.Namespace) -> int:
    """CPU time per layer pass, one worker (process_time), one epoch-equivalent
    (``REFIMPL_CONV_ALGORITHM`` chooses the convolution algorithm, as for a user)."""
    from refimpl.engine import Execution

    x, y = _load(args.samples)
    for batch in args.batch_sizes:
        model, optimizer = _model("refimpl")
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        model.execution = Execution(1, "thread")
        model.fit(x[:256], y[:256], batch_size=batch, epochs=1, verbose=0)
        totals: dict[str, float] = {}

        def wrap(obj: Any, attr: str, key: str, totals: dict[str, float] = totals) -> None:
            fn = getattr(obj, attr)

            def timed(*a: Any, **k: Any) -> Any:
                t = time.process_time()
                try:
                    return fn(*a, **k)
                finally:
                    totals[key] = totals.get(key, 0.0) + time.process_time() - t

            setattr(obj, attr, timed)

        for layer in model.layers:
            for attr in ("forward", "backward", "begin_batch", "end_batch"):
                wrap(
                    layer, attr, f"{layer.name}.{attr} ({getattr(layer, 'resolved_algorithm', '')})"
                )
        wrap(model.loss, "value_and_grad", "loss+grad")
        wrap(model.optimizer, "apply", "optimizer.apply")
        cpu = time.process_time()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        cpu = time.process_time() - cpu
        n = len(x)
        print(f"batch {batch}: {cpu:.1f} s CPU for {n} images ({cpu / n * 1e6:.0f} us/image)")
        for key, value in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"  {key:52s} {value:7.2f} s  {value / n * 1e6:6.1f} us/image")
        print(f"  {'other (engine, data, callbacks)':52s} {cpu - sum(totals.values()):7.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument(
        "--variants",
        nargs="*",
        default=[],
        choices=["im2col", "winograd2", "winograd4"],
        help="extra refimpl runs with REFIMPL_CONV_ALGORITHM set to these",
    )
    parser.add_argument(
        "--lesson", action="store_true", help="time lr-refimpl tutorial per backend"
    )
    parser.add_argument(
        "--lesson-args", default="", help="extra tutorial options, e.g. '--epochs 1 --limit 12000'"
    )
    parser.add_argument(
        "--parity-seeds", type=int, default=0, help="weights vs Keras per algorithm"
    )
    parser.add_argument("--profile", action="store_true", help="CPU time per layer, 1 worker")
    parser.add_argument("--child", choices=["refimpl", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if REPO not in sys.path:  # this checkout's refimpl, not another installed one
        sys.path.insert(0, REPO)
    if args.child:
        print(json.dumps(_child(args.child, args.batch, args.samples)))
        return 0
    print("# command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    if args.lesson:
        return _lesson(args)
    if args.parity_seeds:
        return _parity_seeds(args)
    if args.profile:
        return _profile(args)
    return _epochs(args)


if __name__ == "__main__":
    sys.exit(main())
