"""A run killed after a day boundary resumes from its checkpoint with byte-identical results."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from tiktok_sim import compiled, simulate
from tiktok_sim.checkpoint import FILE, OtherRun, run_seed
from tiktok_sim.output import write_outputs
from tiktok_sim.results import RunResult
from tiktok_sim.scenario import Scenario, load_scenario


class Killed(Exception):
    pass


def killed_at(minute: float):  # type: ignore[no-untyped-def]
    def progress(now: float, _total: float) -> None:
        if now == minute:
            raise Killed

    return progress


def files(result: RunResult, out: Path) -> dict[str, object]:
    write_outputs(result, out)
    found: dict[str, object] = {p.name: p.read_text() for p in out.iterdir() if p.name != "manifest.json"}
    summary = json.loads(str(found.pop("summary.json")))
    summary.pop("runtime_s")
    found["summary.json"] = summary
    return found


@pytest.fixture(scope="module")
def three_days(tiny_file: Path) -> Scenario:
    return load_scenario(tiny_file, ("run.duration=3d",))


def test_a_run_killed_twice_resumes_to_byte_identical_results(three_days: Scenario, tmp_path: Path) -> None:
    whole = simulate(three_days, seed=5, record_impressions=True)
    saved = tmp_path / "checkpoint"
    # Killed an hour into day 1, after the day-0 checkpoint; then again in day 2.
    for minute in (1440 + 60, 2 * 1440 + 60):
        with pytest.raises(Killed):
            simulate(three_days, seed=5, progress=killed_at(minute), record_impressions=True, checkpoint_to=saved)
        assert (saved / FILE).is_file()
    resumed = simulate(three_days, seed=5, record_impressions=True, checkpoint_to=saved)
    assert not (saved / FILE).exists()  # removed once the run finished
    assert files(resumed, tmp_path / "resumed") == files(whole, tmp_path / "whole")
    assert resumed.impressions_log is not None and whole.impressions_log is not None
    assert all((resumed.impressions_log[k] == whole.impressions_log[k]).all() for k in whole.impressions_log)


def test_a_checkpoint_of_another_seed_is_refused(three_days: Scenario, tmp_path: Path) -> None:
    with pytest.raises(Killed):
        simulate(three_days, seed=5, progress=killed_at(1440 + 60), checkpoint_to=tmp_path)
    with pytest.raises(OtherRun, match="found one of another run"):
        simulate(three_days, seed=6, checkpoint_to=tmp_path)


def test_a_checkpoint_written_by_other_code_is_refused(
    three_days: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Killed):
        simulate(three_days, seed=5, progress=killed_at(1440 + 60), checkpoint_to=tmp_path)
    monkeypatch.setattr(compiled, "sources_hash", lambda: "an-upgrade")
    with pytest.raises(OtherRun, match="found one written by another; resume it with the version that wrote it"):
        simulate(three_days, seed=5, checkpoint_to=tmp_path)


def test_a_run_with_a_drawn_seed_resumes_with_that_seed(three_days: Scenario, tmp_path: Path) -> None:
    drawn = three_days.model_copy(update={"seed": None, "run": three_days.run.model_copy(update={"duration": 2880.0})})
    with pytest.raises(Killed):
        simulate(drawn, progress=killed_at(1440 + 60), checkpoint_to=tmp_path)
    seed = run_seed(None, drawn, tmp_path)
    assert seed is not None
    resumed = simulate(drawn, checkpoint_to=tmp_path)  # no seed given: the checkpoint's, not a new one
    assert resumed.seed == seed
    assert files(resumed, tmp_path / "resumed") == files(simulate(drawn, seed=seed), tmp_path / "whole")


def test_run_checkpoint_resumes_from_the_command_line(tiny_file: Path, three_days: Scenario, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tiktok_sim.cli import main

    saved = tmp_path / "saved"
    with pytest.raises(Killed):
        simulate(three_days, seed=5, progress=killed_at(1440 + 60), checkpoint_to=saved)
    args = ["run", str(tiny_file), "--set", "run.duration=3d", "--checkpoint", str(saved), "--json"]
    refused = CliRunner().invoke(main, [*args, "--seed", "6"])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"{saved / FILE}: expected a checkpoint of this scenario and seed 6, found one of another run (seed 5); "
        "use an empty folder"
    ]
    resumed = CliRunner().invoke(main, [*args, "--seed", "5"])
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming from the checkpoint in {saved}/ (seed 5, day 1 done)." in resumed.output
    summary = json.loads(resumed.output[resumed.output.index("{") :])
    summary.pop("runtime_s")
    assert summary == files(simulate(three_days, seed=5), tmp_path / "whole")["summary.json"]
    assert not (saved / FILE).exists()


def test_run_checkpoint_is_refused_with_replications(tiny_file: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tiktok_sim.cli import main

    refused = CliRunner().invoke(main, ["run", str(tiny_file), "--reps", "2", "--checkpoint", str(tmp_path)])
    assert refused.exit_code == 2
    assert "--checkpoint saves one run" in refused.output


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"garbage", "a file that cannot be read as one"),
        (b"", "a file that cannot be read as one"),
        (pickle.dumps([1, 2]), "another kind of pickle"),
        (None, "something that is not a file"),
    ],
)
def test_a_checkpoint_folder_holding_something_else_is_refused_in_one_line(
    tiny_file: Path, tmp_path: Path, content: bytes | None, found: str
) -> None:
    from click.testing import CliRunner

    from tiktok_sim.cli import main

    folder = tmp_path / "ck"
    folder.mkdir()
    if content is None:
        (folder / FILE).mkdir()
    else:
        (folder / FILE).write_bytes(content)
    refused = CliRunner().invoke(main, ["run", str(tiny_file), "--quiet", "--checkpoint", str(folder)])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"{folder / FILE}: expected a checkpoint, found {found}; delete it or use an empty folder"
    ]


def test_an_unwritable_checkpoint_folder_is_refused_before_the_run(tiny_file: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tiktok_sim.cli import main

    afile = tmp_path / "afile"
    afile.write_text("")
    refused = CliRunner().invoke(main, ["run", str(tiny_file), "--quiet", "--checkpoint", str(afile / "sub")])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [f"--checkpoint {afile / 'sub'}: cannot write: Not a directory"]


def test_a_save_the_disk_refuses_names_the_checkpoint_folder_and_leaves_nothing(
    three_days: Scenario, tmp_path: Path
) -> None:
    from tiktok_sim.checkpoint import Unwritable, save
    from tiktok_sim.engine import Engine

    folder = tmp_path / "ck"
    (folder / FILE).mkdir(parents=True)  # the rename into place fails
    with pytest.raises(Unwritable, match=f"^--checkpoint {folder}: cannot write: Is a directory$"):
        save(Engine(three_days, 1), folder)
    assert [p.name for p in folder.iterdir()] == [FILE]
