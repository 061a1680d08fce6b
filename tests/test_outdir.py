"""An output directory belongs to one run or experiment: refused, resumed or replaced whole, never mixed."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tiktok_sim import experiments, outdir, shards
from tiktok_sim.cli import main
from tiktok_sim.outdir import swap
from tiktok_sim.output import write_hashed

SMALL = ("--set", "run.duration=6h", "--set", "users.count=400", "--set", "creators.count=25")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def reps(tiny_file: Path, out: Path, *args: str) -> tuple[int, str]:
    """``run --reps`` of a small world, serially, into ``out``."""
    return invoke("run", str(tiny_file), *SMALL, "--executor", "serial", "--quiet", "--out", str(out), *args)


def tree(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its SHA-256: what must not change."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def four(tiny_file: Path, tmp_path: Path) -> Path:
    """A finished experiment: 4 replications, root seed 5."""
    out = tmp_path / "R"
    assert reps(tiny_file, out, "--reps", "4", "--seed", "5") == (0, "")
    return out


def test_a_second_experiment_is_refused_and_mixes_nothing(tiny_file: Path, four: Path) -> None:
    before = tree(four)
    code, output = reps(tiny_file, four, "--reps", "2", "--seed", "9", "--set", "users.count=800")
    assert code == 2, output
    assert output.splitlines() == [
        f"{four}: holds the results of an experiment (root seed 5, scenario {_scenario(four)}, 4 reps); "
        "use --resume to continue it or --force to replace it"
    ]
    assert tree(four) == before
    assert invoke("check", str(four)) == (0, f"{four}: ok\n")


def _scenario(out: Path) -> str:
    return str(json.loads((out / "manifest.json").read_text())["scenario_sha256"])[:12]


def test_every_command_with_out_refuses_another_set(tiny_file: Path, four: Path, tmp_path: Path) -> None:
    before = tree(four)
    sweep = ("sweep", str(tiny_file), *SMALL, "--vary", "recommender.exploration=0.05,0.5", "--reps", "2")
    code, output = invoke(*sweep, "--executor", "serial", "--out", str(four))
    assert code == 2 and "use --resume to continue it or --force to replace it" in output, output
    code, output = invoke("run", str(tiny_file), *SMALL, "--quiet", "--out", str(four))
    assert code == 2 and output.endswith("4 reps); use --force to replace it\n"), output  # a run cannot resume
    assert tree(four) == before

    single = tmp_path / "single"
    assert invoke("run", str(tiny_file), *SMALL, "--quiet", "--seed", "3", "--out", str(single))[0] == 0
    kept = tree(single)
    code, output = reps(tiny_file, single, "--reps", "2", "--resume")
    assert code == 2 and f"{single}: cannot resume: it holds the results of a run (seed 3, scenario" in output
    code, output = invoke("run", str(tiny_file), *SMALL, "--quiet", "--seed", "3", "--out", str(single))
    assert code == 2 and "holds the results of a run (seed 3, scenario" in output, output  # even the same run
    assert tree(single) == kept


def test_resume_must_match_the_experiment(tiny_file: Path, four: Path) -> None:
    before = tree(four)
    for other, differ in (
        (("--reps", "2"), "replications"),
        (("--reps", "4", "--seed", "6"), "root seeds"),
        (("--reps", "4", "--set", "users.count=401"), "scenarios"),
    ):
        code, output = reps(tiny_file, four, *other, "--resume")
        assert code == 2 and "cannot resume: it holds the results of an experiment (root seed 5" in output, output
        assert f"; the {differ} differ); use --force" in output, output
        assert tree(four) == before
    (four / "shards" / "point00000-rep00002.json").unlink()
    assert reps(tiny_file, four, "--reps", "4", "--resume") == (0, "")  # the seed comes from the manifest
    assert tree(four) == {**before, "manifest.json": tree(four)["manifest.json"]}  # same results; argv changed
    assert invoke("check", str(four))[0] == 0


def test_force_replaces_the_whole_set(tiny_file: Path, four: Path) -> None:
    code, output = reps(tiny_file, four, "--reps", "2", "--seed", "9", "--set", "users.count=800", "--force")
    assert (code, output) == (0, "")
    assert sorted(p.name for p in (four / "shards").iterdir()) == [
        f"point00000-rep0000{r}.{kind}"
        for r in range(2)
        for kind in ("creators.csv", "funnel.csv", "json", "videos.csv")
    ]  # the old experiment's replications 2 and 3 are gone, not mixed in
    runs = (four / "runs.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in runs] == ["run_id", "p0-r0", "p0-r1"]
    assert json.loads((four / "manifest.json").read_text())["root_seed"] == 9
    assert invoke("check", str(four)) == (0, f"{four}: ok\n")
    assert sorted(p.name for p in four.parent.iterdir()) == ["R"]  # no temporary sibling left

    code, output = invoke("run", str(tiny_file), *SMALL, "--quiet", "--out", str(four), "--force")
    assert code == 0 and sorted(tree(four)) == sorted(outdir.RUN_FILES), output  # a run replaces an experiment


def test_force_never_deletes_what_the_tool_did_not_write(tiny_file: Path, four: Path, tmp_path: Path) -> None:
    (four / "notes.txt").write_text("mine")
    before = tree(four)
    code, output = reps(tiny_file, four, "--reps", "2", "--force")
    assert (
        code == 2 and output == f"{four}: is not a results directory (it holds notes.txt); choose a new or empty one\n"
    )
    assert tree(four) == before
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    code, output = invoke("run", str(tiny_file), *SMALL, "--quiet", "--out", str(home), "--force")
    assert code == 2 and "is not a results directory (it holds thesis.tex)" in output
    assert (home / "thesis.tex").read_text() == "years of work"


def test_an_empty_directory_is_fine(tiny_file: Path, tmp_path: Path) -> None:
    for args in ((), ("--reps", "2")):
        out = tmp_path / f"empty{len(args)}"
        out.mkdir()
        assert reps(tiny_file, out, *args) == (0, "")
        assert invoke("check", str(out)) == (0, f"{out}: ok\n")


def test_a_replacement_that_fails_or_is_interrupted_leaves_the_old_set(
    tiny_file: Path, four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(four)
    real = experiments.run_task
    calls = []

    def second_fails(*args: object, **kwargs: object) -> experiments.TaskOutput:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(experiments, "run_task", second_fails)
    code, output = reps(tiny_file, four, "--reps", "3", "--seed", "9", "--force")
    assert code == 130 and output == f"interrupted: {four} is unchanged (the replacement was discarded)\n"
    assert tree(four) == before and sorted(p.name for p in four.parent.iterdir()) == ["R"]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the world fell over")

    monkeypatch.setattr(experiments, "run_task", broken)
    code, output = reps(tiny_file, four, "--reps", "2", "--seed", "9", "--force")
    assert code == 1 and output == "all 2 tasks failed; the first: RuntimeError: the world fell over\n"
    assert tree(four) == before and sorted(p.name for p in four.parent.iterdir()) == ["R"]


def test_a_failure_while_writing_the_set_leaves_the_old_one(
    tiny_file: Path, four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(four)
    real = shards.write_text

    def disk_full(path: Path, text: object) -> None:
        if path.name.startswith(".videos.csv"):
            raise OSError(28, "No space left on device")
        real(path, text)  # type: ignore[arg-type]

    monkeypatch.setattr(shards, "write_text", disk_full)
    code, output = reps(tiny_file, four, "--reps", "2", "--seed", "9", "--force")
    assert code == 1 and output == f"{four}: cannot write results: No space left on device\n"
    assert tree(four) == before and sorted(p.name for p in four.parent.iterdir()) == ["R"]

    out = four.parent / "single"
    assert invoke("run", str(tiny_file), *SMALL, "--quiet", "--out", str(out))[0] == 0
    kept = tree(out)

    def full_at_stages(path: Path, chunks: Iterable[str]) -> str:
        if path.name == "stages.csv":  # after summary.json, videos.csv, creators.csv and reach.csv
            next(iter(chunks))  # a table's first rows are written, then the disk is full
            raise OSError(28, "No space left on device")
        return write_hashed(path, chunks)

    monkeypatch.setattr("tiktok_sim.output.write_hashed", full_at_stages)
    code, output = invoke("run", str(tiny_file), *SMALL, "--quiet", "--out", str(out), "--force")
    assert code == 1 and output == f"{out}: cannot write results: No space left on device\n"
    assert tree(out) == kept and sorted(p.name for p in out.parent.iterdir()) == ["R", "single"]


def test_swap_puts_the_old_set_back_if_the_new_one_cannot_take_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, stage = tmp_path / "out", tmp_path / "new"
    out.mkdir()
    stage.mkdir()
    (out / "summary.json").write_text("old")
    (stage / "summary.json").write_text("new")
    real, calls = os.rename, []

    def second_fails(src: Path, dst: Path) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "rename", second_fails)
    with pytest.raises(OSError):
        swap(stage, out, replace=True)
    assert (out / "summary.json").read_text() == "old" and (stage / "summary.json").read_text() == "new"
    monkeypatch.setattr(os, "rename", real)
    swap(stage, out, replace=True)
    assert (out / "summary.json").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_flags_that_need_an_output_directory(tiny_file: Path, tmp_path: Path) -> None:
    code, output = invoke("run", str(tiny_file), "--reps", "2", "--force")
    assert code == 2 and "--force needs --out DIR" in output
    code, output = invoke("run", str(tiny_file), "--reps", "2", "--out", str(tmp_path), "--force", "--resume")
    assert code == 2 and "choose one" in output
    code, output = invoke("run", str(tiny_file), "--out", str(tmp_path), "--resume")
    assert code == 2 and "--resume continues an experiment" in output
