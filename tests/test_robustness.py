"""Hostile input, interruptions and resource limits: one clear line, the right exit code, nothing corrupt."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from tiktok_sim import outdir, output
from tiktok_sim.check import check_results
from tiktok_sim.cli import main
from tiktok_sim.engine import Engine
from tiktok_sim.errors import ScenarioError
from tiktok_sim.scenario import Scenario, load_scenario
from tiktok_sim.single_run import simulate

from .conftest import ROOT, SCENARIOS

ONE_LINE = r"^\S.*:\d+:\d+: |^\S+: |^--set: "


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("users: {count: many}\n", ":1:9: users.count: expected a valid integer"),
        ("users: {count: 0}\n", "users.count: expected greater than 0, found 0"),
        ("users: {regions: []}\n", "users.regions: List should have at least 1 item"),
        ("creators: {count: 0}\n", "creators.count: expected greater than 0"),
        ("ladder: [{pool: 10, window: 1h, gates: [{type: absolute, share: -0.1}]}]\n", "share: expected greater than"),
        (
            "ladder: [{pool: 10, window: 1h, gates: [{type: magic}]}]\n",
            "ladder.0.gates.0.type: expected one of 'absolute', 'score', 'percentile', found 'magic'",
        ),
        ("run: {duration: soon}\n", "run.duration: expected a duration"),
        ("topics: [a, a]\n", "topics: expected unique topic names"),
        ("users: {count: 'a:x:b'}\n", "found 'a:x:b'"),  # quoted as written, not as an emoji
        (
            "creators: {video_length: {type: lognormal, median: 10, sigma: 1, min: 100, max: 5}}\n",
            "creators.video_length: expected min < max, found min 100 and max 5",
        ),
        (
            "creators: {post_hours: [" + ", ".join(["0"] * 24) + "]}\n",
            "creators.post_hours: expected 24 non-negative weights with a positive sum",
        ),
        ("# only a comment\n", ":1:1: expected a mapping of scenario keys, found only comments"),
        (
            "featured: [{name: a, niche: [food], followers: 1, video_length_s: 9, quality: 0.5, hook: 0.5,"
            " schedule: ['\u00b2:00']}]\n",
            "featured.0.schedule: expected a time such as",
        ),
    ],
)
def test_each_bad_value_gives_one_positioned_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, output = invoke("validate", str(path))
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) == 1 and fragment in lines[0] and lines[0].startswith(str(path)), output


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("nosuch.key=1", "--set: nosuch: unknown key 'nosuch'; expected one of"),
        ("ladder.0.gates.0.type=bogus",
         "--set: ladder.0.gates.0.type: expected one of 'absolute', 'score', 'percentile', found 'bogus'"),
        ("featured.0.niche=[zzz]", "--set: featured: my_channel: expected niche topics from `topics`"),
    ],
)  # fmt: skip
def test_an_override_problem_names_the_override_not_the_file(override: str, line: str) -> None:
    code, output = invoke("validate", str(SCENARIOS / "quickstart.yaml"), "--set", override)
    assert code == 2 and len(output.splitlines()) == 1 and output.startswith(line), output


def test_a_sweep_value_problem_names_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path / "qs.yaml").write_text((SCENARIOS / "quickstart.yaml").read_text())
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("extends: qs.yaml\nsweep:\n  vary:\n    featured.0.niche: [[food], [zzz]]\n")
    code, output = invoke("sweep", str(sweep), "--reps", "1")
    assert code == 2 and output.startswith(f"{sweep}:4:5: featured: my_channel: expected niche topics"), output


def test_compare_says_which_file_an_override_failed_on() -> None:
    code, output = invoke("compare", str(SCENARIOS / "defaults.yaml"), str(SCENARIOS / "quickstart.yaml"),
                          "--set", "featured.0.hook=0.9")  # fmt: skip
    assert code == 2
    assert output.strip() == (
        f"--set on {SCENARIOS / 'defaults.yaml'}: featured.0.hook: expected a list index below 0, found '0'"
    )


def test_a_date_in_a_sweep_is_refused_where_it_was_written(tmp_path: Path, tiny_file: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(tiny_file.read_text() + "sweep:\n  vary:\n    recommender.exploration: [0.1, 2020-01-01]\n")
    code, output = invoke("sweep", str(sweep), "--reps", "1")
    line = len(tiny_file.read_text().splitlines()) + 3
    assert code == 2 and output.strip() == (
        f"{sweep}:{line}:36: sweep.vary.recommender.exploration.1: expected a number, text or a list, "
        "found 2020-01-01 (a date); quote it for text"
    )


def test_a_quoted_sweep_value_stays_text(tmp_path: Path, tiny_file: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(tiny_file.read_text() + "sweep:\n  vary:\n    name: ['123', 'true', plain]\n")
    out = tmp_path / "out"
    code, output = invoke("sweep", str(sweep), "--reps", "1", "--set", "run.duration=2h", "--quiet",
                          "--executor", "serial", "--out", str(out))  # fmt: skip
    assert code == 0, output
    points = json.loads((out / "manifest.json").read_text())["points"]
    assert [p["params"]["name"] for p in points] == ["123", "true", "plain"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--executor", "dask", "--scheduler", "garbage!!"),
         "Invalid value for --scheduler: expected an address such as tcp://host:8786, found 'garbage!!'"),
        (("--executor", "dask", "--scheduler", "127.0.0.1:99999"), "found '127.0.0.1:99999'"),
        (("--scheduler", "tcp://127.0.0.1:8786"), "--scheduler names a Dask scheduler: give --executor dask as well"),
        (("--reps", "99999999999"), "99999999999 is not in the range 1<=x<=10000"),
    ],
)  # fmt: skip
def test_bad_experiment_options_are_refused_before_anything_runs(
    tiny_file: Path, args: tuple[str, ...], line: str
) -> None:
    code, output = invoke("run", str(tiny_file), "--reps", "2", *args)
    assert code == 2 and line in output, output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("runn",), ": No such command 'runn'. Did you mean 'run'? (see "),
        (("run",), " run: Missing argument 'SCENARIO_FILE'. (see "),
        (("run", "x.yaml", "--reps", "0"), " run: Invalid value for '--reps': 0 is not in the range 1<=x<=10000."),
        (("run", "x.yaml", "--resume"), " run: --resume needs --out DIR (the directory holding the results) (see "),
    ],
)
def test_a_usage_error_is_one_line_that_says_where_to_read_more(args: tuple[str, ...], line: str) -> None:
    code, output = invoke(*args)  # the test runner names the program "main"
    assert code == 2 and len(output.splitlines()) == 1, output
    assert output.startswith("main") and line in output and output.endswith(" --help)\n"), output


@pytest.mark.parametrize("threads", ["0", "-1", "junk", ""])
def test_a_thread_count_numba_would_refuse_is_one_line(threads: str) -> None:
    result = CliRunner(env={"NUMBA_NUM_THREADS": threads}).invoke(
        main, ["validate", str(SCENARIOS / "quickstart.yaml")]
    )
    assert result.exit_code == 2
    assert result.output == f"NUMBA_NUM_THREADS: expected a whole number of at least 1, found {threads!r}\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_standard_output_is_one_line_and_the_results_are_whole(tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "tiktok_sim", "run", str(tiny_file), "--set", "run.duration=2h",
                               "--json", "--out", str(out)], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=300)  # fmt: skip
    assert done.returncode == 1 and done.stderr == "cannot write to standard output: No space left on device\n"
    assert check_results(out) == []


def test_a_picture_folder_that_would_fail_is_refused_before_the_run(tiny_file: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert invoke("run", str(tiny_file), "--set", "run.duration=2h", "--quiet", "--out", str(results))[0] == 0
    (tmp_path / "afile").write_text("")
    cases = [
        ("", "Invalid value for '--plot': expected a folder, found an empty path"),
        (str(tmp_path / "afile" / "sub"), f"{tmp_path / 'afile' / 'sub'}: cannot make the folder: Not a directory"),
        (str(results / "pics"), f"{results / 'pics'} is inside the results directory {results}"),
    ]
    for folder, line in cases:
        code, output = invoke("run", str(tiny_file), "--quiet", "--plot", folder)
        assert code == 2 and len(output.splitlines()) == 1 and line in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "results"] and check_results(results) == []


def test_advise_refuses_an_out_file_it_could_not_write_before_running(
    tiny_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tiktok_sim.advise

    def never(*_: object, **__: object) -> None:
        raise AssertionError("the runs started before the destination was checked")

    monkeypatch.setattr(tiktok_sim.advise, "advise", never)
    target = tmp_path / "nodir" / "advice.json"
    code, output = invoke("advise", str(tiny_file), "--creator", "me", "--reps", "2", "--out", str(target))
    assert code == 1 and output.strip() == f"{target}: cannot write: No such file or directory"
    assert list(tmp_path.rglob("*")) == []


def test_results_are_not_written_inside_other_results(tiny_file: Path, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    assert invoke("run", str(tiny_file), "--set", "run.duration=2h", "--quiet", "--out", str(outer))[0] == 0
    code, output = invoke("run", str(tiny_file), "--set", "run.duration=2h", "--quiet", "--out", str(outer / "sub"))
    assert code == 2
    assert output.strip() == f"{outer / 'sub'}: is inside the results in {outer}; choose a folder outside them"
    assert check_results(outer) == []


def test_a_50_mb_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(50_000_000)
    code, output = invoke("validate", str(path))
    assert code == 2 and output.strip() == f"{path}: expected a scenario under 2 MB, found 50.0 MB"


def test_set_with_an_unknown_path_or_bad_value_exits_2() -> None:
    quickstart = str(SCENARIOS / "quickstart.yaml")
    assert invoke("validate", quickstart, "--set", "users.cuont=5")[0] == 2
    code, output = invoke("validate", quickstart, "--set", "users.count=[1, 2]")
    assert code == 2 and output.startswith("--set: users.count: expected a valid integer")


def _documents() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=12)
    )
    keys = st.sampled_from(["users", "count", "run", "duration", "ladder", "pool", "gates", "type", "seed", "x"])
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
    )


def _load_or_fail_cleanly(path: Path) -> None:
    try:
        assert isinstance(load_scenario(path), Scenario)
    except ScenarioError as exc:
        assert exc.problems and all("\n" not in str(p) for p in exc.problems)


FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(doc=_documents())
def test_random_documents_validate_or_fail_in_one_line(tmp_path: Path, doc: object) -> None:
    path = tmp_path / "fuzz.yaml"
    YAML(typ="safe", pure=True).dump(doc, path)
    _load_or_fail_cleanly(path)


@FUZZ
@given(
    name=st.sampled_from(["quickstart.yaml", "bench.yaml", "defaults.yaml"]),
    cut=st.integers(0, 10_000),
    insert=st.text(alphabet=st.sampled_from(list(" \t\n:-[]{}#&*!|>'\"%@`,?0a")), max_size=6),
)
def test_mutated_shipped_scenarios_validate_or_fail_in_one_line(
    tmp_path: Path, name: str, cut: int, insert: str
) -> None:
    text = (SCENARIOS / name).read_text()
    cut %= len(text)
    path = tmp_path / name
    path.write_text(text[:cut] + insert + text[cut + len(insert) :])
    _load_or_fail_cleanly(path)


def test_dry_run_prints_the_estimate_and_runs_nothing(tmp_path: Path) -> None:
    code, output = invoke("run", str(SCENARIOS / "bench.yaml"), "--dry-run", "--out", str(tmp_path / "out"))
    assert code == 0 and "impressions" in output and "of memory" in output
    assert not (tmp_path / "out").exists()
    code, output = invoke("run", str(SCENARIOS / "bench.yaml"), "--dry-run", "--json")
    estimate = json.loads(output)
    assert code == 0 and estimate["impressions"] > 0 and estimate["memory_bytes"] > estimate["impressions"]


def test_a_tiny_memory_limit_is_said_in_bytes() -> None:
    code, output = invoke("run", str(SCENARIOS / "quickstart.yaml"), "--max-memory", "5")
    assert code == 2 and "more than the 5 bytes of --max-memory" in output, output


def test_a_run_over_the_memory_limit_is_refused_with_the_estimate() -> None:
    code, output = invoke("run", str(SCENARIOS / "bench.yaml"), "--max-memory", "100MB")
    assert code == 2 and "needs about" in output and "100.0 MB of --max-memory" in output


def test_exit_codes(tmp_path: Path, tiny_file: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", str(tiny_file), "--quiet", "--out", str(out))[0] == 0
    assert invoke("check", str(out)) == (0, f"{out}: ok\n")
    (out / "reach.csv").write_text("video_id,hour,views\n")
    code, output = invoke("check", str(out))
    assert code == 1 and "reach.csv: SHA-256 differs from manifest.json" in output
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert invoke("run", str(tiny_file), "--quiet", "--out", str(blocker / "out"))[0] == 1
    assert invoke("run", str(tmp_path / "missing.yaml"))[0] == 2
    assert invoke("run", str(tiny_file), "--no-such-flag")[0] == 2


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _wait_for_sigterm_handler(pid: int, timeout: float = 60.0) -> None:
    """Wait until the process catches SIGTERM (Linux reports caught signals in /proc)."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + timeout
    while status.exists() and time.monotonic() < deadline:
        caught = next((line for line in status.read_text().splitlines() if line.startswith("SigCgt:")), "SigCgt: 0")
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.1)


def test_sigterm_mid_run_keeps_the_previous_complete_results(tmp_path: Path, tiny_file: Path) -> None:
    out = tmp_path / "out"
    assert invoke("run", str(tiny_file), "--quiet", "--out", str(out))[0] == 0
    before = _digests(out)
    command = [sys.executable, "-m", "tiktok_sim", "run", str(SCENARIOS / "bench.yaml"), "--quiet", "--out", str(out),
               "--force"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ})
    _wait_for_sigterm_handler(proc.pid)  # imports done: a loaded machine may take seconds
    time.sleep(4.0)  # world built, simulation under way (the bench run takes ~35 s)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: no results were written" in stderr and "Traceback" not in stderr
    assert _digests(out) == before  # the earlier complete set, untouched, and no temporary files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nor a half-written replacement beside it


def test_an_interrupt_wrapped_by_a_compiled_kernel_is_still_an_interrupt(
    tiny: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted_while_loading(self: Engine) -> Engine:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from exc

    monkeypatch.setattr(Engine, "run", interrupted_while_loading)
    with pytest.raises(KeyboardInterrupt):
        simulate(tiny, seed=1)


def test_other_system_errors_are_not_taken_for_interrupts(tiny: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Engine) -> Engine:
        raise SystemError("something else")

    monkeypatch.setattr(Engine, "run", broken)
    with pytest.raises(SystemError, match="something else"):
        simulate(tiny, seed=1)


@pytest.mark.parametrize(("users", "creators"), [(1, 1), (3, 2), (1, 3), (2, 50)])
def test_worlds_too_small_for_every_language_run(users: int, creators: int) -> None:
    # Some creators' languages have no speakers, so they start without a follow edge.
    code, output = invoke(
        "run", str(SCENARIOS / "quickstart.yaml"), "--set", f"users.count={users}",
        "--set", f"creators.count={creators}", "--set", "run.duration=6h", "--quiet", "--json",
    )  # fmt: skip
    assert code == 0, output
    assert '"impressions"' in output


def test_an_experiment_whose_every_task_fails_exits_1_with_the_first_error(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the world fell over")

    monkeypatch.setattr("tiktok_sim.experiments.run_task", broken)
    runs = (["run", str(tiny_file), "--reps", "2"], 2), (["compare", str(tiny_file), str(tiny_file), "--reps", "2"], 4)
    for command, tasks in runs:
        code, output = invoke(*command, "--executor", "serial")
        assert code == 1, output
        assert output.strip() == f"all {tasks} tasks failed; the first: RuntimeError: the world fell over"


@pytest.fixture
def pytest_signals() -> Iterator[None]:
    """The command line ignores signals after the first: give SIGINT and SIGTERM back to pytest."""
    saved = {signum: signal.getsignal(signum) for signum in outdir.INTERRUPTS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


SHORT = ("--quiet", "--set", "run.duration=6h")


def test_a_signal_during_the_final_rename_leaves_the_results_complete(
    tiny_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pytest_signals: None
) -> None:
    out = tmp_path / "out"
    rename = os.replace

    def interrupted_rename(source: Path, target: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the set is being put in place
        rename(source, target)

    monkeypatch.setattr(outdir.os, "replace", interrupted_rename)
    code, output_text = invoke("run", str(tiny_file), *SHORT, "--out", str(out))
    assert code == 130 and output_text == f"interrupted: the results in {out} are complete\n"
    assert check_results(out) == [] and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_signal_while_the_files_are_written_leaves_nothing(
    tiny_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pytest_signals: None
) -> None:
    out = tmp_path / "out"
    write = output.write_hashed

    def interrupted_third_file(path: Path, chunks: Iterable[str]) -> str:
        if len(list(path.parent.iterdir())) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return write(path, chunks)

    monkeypatch.setattr(output, "write_hashed", interrupted_third_file)
    code, output_text = invoke("run", str(tiny_file), *SHORT, "--out", str(out))
    assert code == 130 and output_text.startswith("interrupted: no results were written")
    assert list(tmp_path.iterdir()) == []


def test_a_held_signal_is_delivered_when_the_block_ends(pytest_signals: None) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with pytest.raises(outdir.HeldInterrupt), outdir.signals_held():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler would have run by now
    with pytest.raises(KeyboardInterrupt) as caught, outdir.signals_held():
        os.kill(os.getpid(), signal.SIGINT)
        raise OSError("disk full")  # the block did not finish: a plain interrupt
    assert type(caught.value) is KeyboardInterrupt


def _run_until(command: list[str], offset: float | None, signum: int) -> tuple[int, str, float]:
    """Run ``command``; ``offset`` s after its handlers are in place, send ``signum``. Exit code, stderr, time taken."""
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    _wait_for_sigterm_handler(proc.pid)
    started = time.monotonic()
    if offset is not None:
        time.sleep(offset)
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr, time.monotonic() - started


def test_a_signal_at_any_moment_exits_130_in_one_line_or_leaves_complete_results(
    tiny_file: Path, tmp_path: Path
) -> None:
    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "tiktok_sim", "run", str(tiny_file), *SHORT, "--set", "users.count=500",
                "--out", str(out)]  # fmt: skip

    code, stderr, whole = _run_until(command(tmp_path / "whole" / "out"), None, signal.SIGINT)
    assert code == 0 and stderr == ""
    # From the handlers' first moment (imports, compiled kernels, the run) to past the end (writing, renames, exit).
    offsets = [whole * i / 5 for i in range(7)]
    outs = [tmp_path / str(i) / "out" for i in range(len(offsets))]
    for out in outs:
        out.parent.mkdir()
    signals = [(signal.SIGINT, signal.SIGTERM)[i % 2] for i in range(len(offsets))]
    with ThreadPoolExecutor(2) as pool:  # two at a time: the test stays under half a minute
        outcomes = list(pool.map(_run_until, map(command, outs), offsets, signals))
    for offset, out, (code, stderr, _) in zip(offsets, outs, outcomes, strict=True):
        assert "Traceback" not in stderr, (offset, stderr)
        if code == 0:  # finished before the signal
            assert stderr == "" and check_results(out) == [], offset
            continue
        assert code == 130 and len(stderr.splitlines()) == 1 and stderr.startswith("interrupted"), (offset, stderr)
        assert list(out.parent.iterdir()) in ([], [out])  # no half-written set beside it
        assert not out.exists() or check_results(out) == [], (offset, stderr)


FINALIZER_DEMO = """
import time
from tiktok_sim import cli

class Finalized:
    def __del__(self):
        raise KeyboardInterrupt  # what the handler raises when a signal lands in a finalizer

@cli.main.command("finalizer-demo")
def demo():
    Finalized()
    time.sleep(1)
    print("ran on")

cli.main(["finalizer-demo"])
"""


def test_an_interrupt_that_lands_in_a_finalizer_still_stops_in_one_line() -> None:
    # A signal while the kernels load can land in llvmlite's __del__, where Python swallows it with a traceback.
    done = subprocess.run([sys.executable, "-c", FINALIZER_DEMO], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")


def test_a_failed_draw_of_the_users_ends_the_follow_graphs_thread_too(
    tiny: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tiktok_sim import engine

    def broken(*_: object) -> None:
        raise MemoryError("no room for the users")

    before = threading.active_count()
    monkeypatch.setattr(engine, "draw_tastes", broken)
    with pytest.raises(MemoryError, match="no room"):
        Engine(tiny, seed=1)
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= before  # the graph's thread did not wait forever for the users
