"""Running recipe scripts as real subprocesses, timing their stages and killing them with SIGKILL at a random point.

Used by ``test_resume*.py``: a reference run records when each watched event first happens (a checkpoint appears,
a stage file is written); a second run of the same command is killed at a random moment between two of those
events, then started again with the same command until it finishes.
"""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
TIMEOUT_S = 300
POLL_S = 0.02


def recipe_env():
    """One thread per process (results must not depend on thread scheduling) and this checkout on the path."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env["PYTHONPATH"] = ROOT + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return env


def script_command(dataset, script, hparams, flags, torchrun=0):
    """The command line of ``recipes/<dataset>/<script> hparams/<hparams> flags`` (under torchrun with that many
    CPU processes and gloo when ``torchrun``)."""
    launcher = [sys.executable]
    if torchrun:
        launcher += [
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={torchrun}",
        ]
        flags = [*flags, "--distributed_backend=gloo", "--device=cpu"]
    return [
        *launcher,
        script,
        os.path.join("hparams", hparams),
        *flags,
    ], os.path.join(ROOT, "recipes", dataset)


def checkpoints(folder):
    """Number of complete SpeechBrain checkpoints (with their CKPT.yaml) in ``folder``."""
    return len(glob.glob(os.path.join(str(folder), "CKPT*", "CKPT.yaml")))


def exists(path):
    return lambda: os.path.exists(str(path))


class Run:
    """One subprocess; ``events`` ``{name: predicate}`` are polled and the first time each holds is recorded in
    ``times`` (seconds since the start)."""

    def __init__(self, command, cwd, log_path, events=None):
        self.command, self.events = command, dict(events or {})
        self.log_path = str(log_path)
        self.log = open(self.log_path, "ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=recipe_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.times = {}

    def elapsed(self):
        return time.monotonic() - self.started

    def poll_events(self):
        for name, predicate in self.events.items():
            if name not in self.times and predicate():
                self.times[name] = self.elapsed()

    def wait_for(self, name, timeout=TIMEOUT_S):
        """Wait until event ``name`` holds; False when the process ended first."""
        while self.elapsed() < timeout:
            self.poll_events()
            if name in self.times:
                return True
            if self.process.poll() is not None:
                self.poll_events()
                return name in self.times
            time.sleep(POLL_S)
        raise TimeoutError(f"{self.command}: no {name!r} within {timeout} s")

    def finish(self, timeout=TIMEOUT_S):
        """Wait for the end (polling events); the return code."""
        while self.process.poll() is None:
            if self.elapsed() > timeout:
                self.kill()
                raise TimeoutError(f"{self.command} ran over {timeout} s")
            self.poll_events()
            time.sleep(POLL_S)
        self.poll_events()
        self.times.setdefault("end", self.elapsed())
        self.log.close()
        return self.process.returncode

    def kill(self):
        """SIGKILL the process and its children (torchrun's workers: they share its session). True when it was
        still running."""
        alive = self.process.poll() is None
        if alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()
        return alive

    def tail(self, chars=4000):
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-chars:]


def run_to_end(command, cwd, log_path, events=None):
    """Run to completion; assert success; return the event times (and ``end``)."""
    run = Run(command, cwd, log_path, events)
    code = run.finish()
    assert code == 0, f"{' '.join(command)} failed ({code}):\n{run.tail()}"
    return run.times


def kill_between(command, cwd, log_path, events, after, before, reference, rng):
    """Start ``command``, wait for event ``after``, then SIGKILL it after a random delay drawn uniformly in
    [0, 0.8 x the time ``reference`` (a reference run's event times) took from ``after`` to ``before``].

    Returns ``{"after": event, "delay_s": ..., "killed": True}``; a process that ended before the kill (a loaded
    machine) is started again in the same folder and killed right at ``after``.
    """
    window = max(0.0, reference[before] - reference[after])
    for attempt in range(2):
        delay = rng.uniform(0.0, 0.8 * window) if attempt == 0 else 0.0
        run = Run(command, cwd, log_path, events)
        assert run.wait_for(after), (
            f"{' '.join(command)} ended before {after!r}:\n{run.tail()}"
        )
        time.sleep(delay)
        if run.kill():
            return {
                "after": after,
                "delay_s": round(delay, 3),
                "window_s": round(window, 3),
                "attempt": attempt,
            }
    raise AssertionError(
        f"{' '.join(command)}: the run finished before it could be killed"
    )


def make_tiny(root, clip_s=0.5, with_lmac=False):
    """A tiny synthetic ESC-50 set in ``root/data`` (4 classes x 5 clips: 12 train, 4 valid, 4 test clips), a small
    random classifier exported for it in ``root/classifier`` and, ``with_lmac``, an untrained L-MAC decoder of it
    exported as an interpreter in ``root/lmac``. Returns their paths."""
    from interpretability.classifiers import build_classifier
    from interpretability.classifiers.io import export_classifier
    from interpretability.data.synthetic import generate_dataset

    root = str(root)
    made = generate_dataset(
        os.path.join(root, "data"),
        layout="esc50",
        clips_per_class=5,
        duration=clip_s,
        n_classes=4,
        seed=3,
        show_progress=False,
    )
    torch.manual_seed(0)
    model = build_classifier(
        "compact_cnn", n_classes=4, channels=[4, 8, 8, 16]
    ).eval()
    paths = {
        "data": os.path.join(root, "data"),
        "classifier": os.path.join(root, "classifier"),
    }
    export_classifier(
        model, paths["classifier"], made["classes"], clip_seconds=clip_s
    )
    if with_lmac:
        from interpretability.brains.training import layer_channels
        from interpretability.inference import export_interpreter
        from interpretability.interpreters.lmac import LMACDecoder

        decoder = LMACDecoder(
            layer_channels=layer_channels(model, clip_s), width=8
        )
        paths["lmac"] = os.path.join(root, "lmac")
        export_interpreter(
            paths["lmac"],
            decoder,
            decoder.config,
            paths["classifier"],
            method="lmac",
            extra={"training": {"batch_size": 4, "epochs": 1, "lr": 1e-3}},
        )
    return paths


def kill_rng():
    """The random source of the kill points: ``RESUME_TEST_SEED`` or a fresh seed, printed (pytest shows it with a
    failure)."""
    seed = int(os.environ.get("RESUME_TEST_SEED", random.randrange(2**31)))
    print(f"RESUME_TEST_SEED={seed}")
    return random.Random(seed)


def killed_and_resumed(tmp_path, script, hparams, flags, kills, rng, events):
    """Run once uninterrupted (``ref``), then the same command in ``resumed``: killed once per ``(after, before)``
    of ``kills`` (events of ``events(out)``), restarted each time, and run to the end. Returns both folders and the
    kill points."""
    folders, points = {}, []
    reference = None
    for name in ("ref", "resumed"):
        out = tmp_path / name
        command, cwd = script_command(
            "ESC50", script, hparams, [*flags, f"--output_folder={out}"]
        )
        log = tmp_path / f"{name}.log"
        if name == "resumed":
            for after, before in kills:
                points.append(
                    kill_between(
                        command,
                        cwd,
                        log,
                        events(out),
                        after,
                        before,
                        reference,
                        rng,
                    )
                )
        reference = run_to_end(command, cwd, log, events(out))
        folders[name] = out
    return folders["ref"], folders["resumed"], points


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def assert_same_tensors(path_a, path_b):
    """Two ``torch.save`` files hold equal values: tensors bit for bit, in nested dicts / lists alike."""
    a = torch.load(path_a, map_location="cpu", weights_only=True)
    b = torch.load(path_b, map_location="cpu", weights_only=True)
    _assert_same(a, b, f"{path_a} / {path_b}")


def _assert_same(a, b, where):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, (
            f"{where}: other shapes"
        )
        assert torch.equal(a, b), (
            f"{where} differs (max |diff| {float((a - b).abs().max()):.3g})"
        )
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (
            f"{where}: other keys"
        )
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: other lengths"
        for index, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{index}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
