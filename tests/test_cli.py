"""The command line, end to end through click's CliRunner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tiktok_sim.cli import main

from .conftest import ROOT, SCENARIOS


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_run_prints_the_report_and_writes_every_file(runner: CliRunner, tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = runner.invoke(main, ["run", str(tiny_file), "--out", str(out), "--seed", "4"])
    assert result.exit_code == 0, result.output
    for section in ("Funnel", "Top 10 videos", "Creators", "Featured: me", "Bottleneck:", "Cohort", "Calibration"):
        assert section in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "audience.csv", "creators.csv", "gates.csv", "manifest.json", "reach.csv", "stages.csv", "summary.json",
        "videos.csv",
    ]  # fmt: skip
    assert json.loads((out / "summary.json").read_text())["seed"] == 4


def test_json_prints_the_summary_and_set_overrides_apply(runner: CliRunner, tiny_file: Path) -> None:
    result = runner.invoke(main, ["run", str(tiny_file), "--json", "--set", "users.count=1500"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["users"] == 1500 and summary["scenario"]["users"]["count"] == 1500


def test_quiet_prints_nothing(runner: CliRunner, tiny_file: Path) -> None:
    result = runner.invoke(main, ["run", str(tiny_file), "--quiet", "--set", "run.duration=6h"])
    assert result.exit_code == 0 and result.output == ""


def test_run_and_compare_say_they_leave_a_sweep_block_out(runner: CliRunner, tiny_file: Path, tmp_path: Path) -> None:
    swept = tmp_path / "swept.yaml"
    swept.write_text(tiny_file.read_text() + "sweep:\n  vary:\n    recommender.exploration: [0.05, 0.2]\n")
    line = swept.read_text().splitlines().index("sweep:") + 1
    note = f"note: {swept}:{line}: run leaves the sweep: block out and runs the scenario as written"
    result = runner.invoke(main, ["run", str(swept), "--set", "run.duration=6h"])
    assert result.exit_code == 0 and note in result.output and f"`tiktok-sim sweep {swept}`" in result.output
    quiet = runner.invoke(main, ["run", str(swept), "--quiet", "--set", "run.duration=6h"])
    assert quiet.exit_code == 0 and quiet.output == ""
    plain = runner.invoke(main, ["run", str(tiny_file), "--set", "run.duration=6h"])
    assert plain.exit_code == 0 and "sweep: block" not in plain.output
    both = runner.invoke(main, ["compare", str(tiny_file), str(swept), "--reps", "2", "--set", "run.duration=3h"])
    assert both.exit_code == 0 and both.output.count("compare leaves the sweep: block out") == 1


def test_validate_ok(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate", str(SCENARIOS / "quickstart.yaml")])
    assert result.exit_code == 0 and "ok" in result.output


def test_bad_scenario_exits_2_with_file_line_messages(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("users:\n  count: -1\nrecommender:\n  explore: 0.2\n")
    for command in ("validate", "run", "show"):
        result = runner.invoke(main, [command, str(bad)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert lines == [
            f"{bad}:2:3: users.count: expected greater than 0, found -1",
            f"{bad}:4:3: recommender.explore: unknown key 'explore'; did you mean 'exploration'?",
        ]
        assert "Traceback" not in result.output


def test_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert re.search(r"nope\.yaml: expected a scenario file", result.output)


def test_show_prints_the_resolved_scenario(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", str(SCENARIOS / "quickstart.yaml"), "--set", "users.count=1234"])
    assert result.exit_code == 0
    assert "count: 1234" in result.output and "name: quickstart" in result.output


def test_defaults_matches_the_shipped_file(runner: CliRunner) -> None:
    result = runner.invoke(main, ["defaults"])
    assert result.exit_code == 0 and result.output == (SCENARIOS / "defaults.yaml").read_text()


def test_every_command_has_help_text() -> None:
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert command.help and len(command.help) > 20, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.name}"


HEAVY = ("numpy", "scipy", "numba", "pyarrow", "dask", "matplotlib")
"""Each takes from a few tenths of a second to seconds to import: --help and --version must not wait for them."""


def test_importing_the_cli_imports_no_heavy_library() -> None:
    probe = f"import sys, tiktok_sim.cli; print(*sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_package_exports_load_on_first_use() -> None:
    import tiktok_sim
    import tiktok_sim.single_run

    # The module is imported, yet the package's name still means the function.
    assert tiktok_sim.simulate is tiktok_sim.single_run.simulate
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = tiktok_sim.nothing


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output == "tiktok-sim, version 0.1.0\n"


SHORT = ("--set", "run.duration=6h", "--seed", "3")


def _without_out_line(text: str) -> str:
    """The report less the --out line, which only the run prints."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("Results written to"))


def test_report_prints_a_saved_run_as_run_printed_it(runner: CliRunner, tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    printed = runner.invoke(main, ["run", str(tiny_file), *SHORT, "--out", str(out)])
    assert printed.exit_code == 0, printed.output
    reported = runner.invoke(main, ["report", str(out)])
    assert reported.exit_code == 0, reported.output
    assert "Featured: me" in reported.output and "Calibration" in reported.output
    assert _without_out_line(reported.output) == _without_out_line(printed.output)

    other = runner.invoke(main, ["report", str(out), "--featured", "creator_00000", "--width", "80"])
    assert other.exit_code == 0, other.output
    assert "Featured: creator_00000" in other.output and "Featured: me" not in other.output
    assert max(map(len, other.output.splitlines())) <= 80


def test_columns_sets_the_width_when_piped(runner: CliRunner, tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert runner.invoke(main, ["run", str(tiny_file), *SHORT, "--quiet", "--out", str(out)]).exit_code == 0
    for columns in (90, 150):
        printed = runner.invoke(main, ["report", str(out)], env={"COLUMNS": str(columns)})
        assert max(map(len, printed.output.splitlines())) == columns  # the header panel spans the width


def test_report_prints_a_saved_experiment_as_run_printed_it(runner: CliRunner, tiny_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "reps"
    printed = runner.invoke(main, ["run", str(tiny_file), *SHORT, "--reps", "2", "--executor", "serial", "--out",
                                   str(out)])  # fmt: skip
    assert printed.exit_code == 0, printed.output
    reported = runner.invoke(main, ["report", str(out)])
    assert reported.exit_code == 0 and "tiny: 2 replications" in reported.output and "p10-p90" in reported.output
    assert reported.output == printed.output


def test_report_on_a_bad_directory_says_why_in_one_line(runner: CliRunner, tiny_file: Path, tmp_path: Path) -> None:
    missing = runner.invoke(main, ["report", str(tmp_path / "nothing")])
    assert (missing.exit_code, missing.output) == (2, f"{tmp_path / 'nothing'}: not a results directory "
                                                      "(no readable manifest.json)\n")  # fmt: skip
    out = tmp_path / "run"
    assert runner.invoke(main, ["run", str(tiny_file), *SHORT, "--quiet", "--out", str(out)]).exit_code == 0
    unknown = runner.invoke(main, ["report", str(out), "--featured", "nobody"])
    assert unknown.exit_code == 2 and unknown.output.count("\n") == 1
    assert unknown.output.startswith("--featured 'nobody': ")
    twice = runner.invoke(main, ["report", str(out), "--featured", "me", "--featured", "me"])
    assert twice.exit_code == 0 and twice.output.count("Featured: me") == 1
    videos = out / "videos.csv"
    videos.write_text(videos.read_text().replace("\n", ",x\n", 2).split("\n", 1)[1])  # a header too short, ragged rows
    broken = runner.invoke(main, ["report", str(out)])
    assert broken.exit_code == 1 and broken.output.count("\n") == 1 and "videos.csv" in broken.output, broken.output
