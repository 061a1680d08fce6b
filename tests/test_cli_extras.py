"""The CLI's helpers around the simulator: schema, completion, compare --out, --resume and check's hint, examples."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from tiktok_sim.check import check_results
from tiktok_sim.check.experiment import resume_command
from tiktok_sim.cli import COMPLETE_VAR, main
from tiktok_sim.errors import ScenarioError
from tiktok_sim.scenario import load_scenario
from tiktok_sim.scenario.loader import load_sweep

from .conftest import SCENARIOS


@pytest.fixture(scope="module")
def schema() -> Any:
    """The schema `tiktok-sim schema` prints."""
    printed = CliRunner().invoke(main, ["schema"])
    assert printed.exit_code == 0, printed.output
    return json.loads(printed.stdout)


@pytest.fixture(scope="module")
def validator(schema: Any) -> Any:
    """The schema as a validator of the draft it names (draft 7, which editors validate against)."""
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    validator = jsonschema.validators.validator_for(schema)
    assert validator is jsonschema.Draft7Validator
    validator.check_schema(schema)
    return validator(schema)


def test_a_reference_carries_only_annotations_beside_it(schema: Any) -> None:
    # Draft 7 ignores every keyword beside $ref: a bound written there would silently not apply.
    def refs(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, list):
            return [r for item in node for r in refs(item)]
        if not isinstance(node, dict):
            return []
        found = [node] if "$ref" in node else []
        return found + [r for key, value in node.items() if key not in ("default", "const") for r in refs(value)]

    found = refs(schema)
    assert len(found) > 20
    assert all(set(node) <= {"$ref", "description", "title", "default"} for node in found)


def _yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


SHIPPED = sorted([*SCENARIOS.glob("*.yaml"), *(SCENARIOS / "effects").glob("*.yaml")])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(SCENARIOS).as_posix())
def test_the_schema_accepts_every_shipped_scenario(validator: Any, path: Path) -> None:
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_yaml(path.read_text()))
    ]
    assert errors == []


def test_every_shipped_scenario_is_checked() -> None:
    assert len(SHIPPED) >= 14 and any(p.parent.name == "effects" for p in SHIPPED)


BASE = """\
name: base
featured:
  - {name: me, niche: [food], followers: 300, posts_per_day: 3, post_hours: [9, 18], video_length_s: 15,
     quality: 0.7, hook: 0.6}
"""
AGREED = [
    # What the loader accepts: durations as text or minutes, a block's changes, changes by name, extends, sweep.
    ("run: {duration: 12h, tick: 30, backlog: 0}", True),
    ("users: {sessions_per_day: {sigma: 1.2}}", True),
    ("engagement: {skip: {hook: -2.0}}", True),
    ("creators: {video_length: {points: [[0, 2], [1, 60]]}}", True),
    ("creators: {video_length: {type: lognormal, median: 12, sigma: 0.6}}", True),
    ("users: {regions: {us: {utc_offset: -6}}}", True),
    ("extends: base.yaml\nfeatured: {me: {hook: 0.9}}", True),
    ("extends: base.yaml\nsweep: {vary: {featured.0.hook: [0.2, 0.8]}, reps: 2}", True),
    ("ladder: [{pool: 100, window: 6h, gates: [{type: score, min: 0.5}]}, {pool: 400, window: 1d}]", True),
    ("seed: null\nrecommender: {signal_weights: {like: 2.0}}", True),
    # What it refuses for a wrong type, an unknown key, a bound or a missing key.
    ("users: {count: many}", False),
    ("users: {count: true}", False),
    ("run: {duration: 3 days}", False),
    ("run: {duration: 0}", False),
    ("run: {tick: 300}", False),
    ("recommender: {explore: 0.2}", False),
    ("recommender: {signal_weights: {likes: 2.0}}", False),
    ("engagement: {skip: {base: 1.5}}", False),
    ("ladder: [{pool: 100, window: 6h, gates: [{completion: 0.3}]}]", False),
    ("ladder: [{pool: 100}]", False),
    ("creators: {video_length: {type: lognormal, median: 12}}", False),
    ("creators: {video_length: {median: 12, sigma: 0.6}}", False),
    ("featured: [{name: x, hook: 0.5}]", False),
    ("extends: base.yaml\nfeatured: {me: {hook: 2}}", False),
    ("extends: base.yaml\nsweep: {vary: {}}", False),
    ("extends: [base.yaml]", False),
]


@pytest.mark.parametrize(("text", "valid"), AGREED)
def test_the_schema_and_the_loader_agree(validator: Any, tmp_path: Path, text: str, valid: bool) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    path = tmp_path / "scenario.yaml"
    path.write_text(text + "\n")
    try:
        load_scenario(path)
        load_sweep(path)
        loads = True
    except ScenarioError:
        loads = False
    assert (loads, validator.is_valid(_yaml(text))) == (valid, valid)


def test_schema_out_writes_what_it_prints(tmp_path: Path) -> None:
    out = tmp_path / "scenario.schema.json"
    written = CliRunner().invoke(main, ["schema", "--out", str(out)])
    assert written.exit_code == 0 and written.output == f"Schema written to {out}\n"
    assert out.read_text() == CliRunner().invoke(main, ["schema"]).stdout
    assert set(json.loads(out.read_text())["properties"]) >= {"extends", "sweep", "users", "featured", "ladder"}
    refused = CliRunner().invoke(main, ["schema", "--out", str(tmp_path / "missing" / "schema.json")])
    assert refused.exit_code == 1 and refused.output.startswith(f"{tmp_path / 'missing' / 'schema.json'}: cannot write")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_shell_script(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert COMPLETE_VAR in result.stdout and f"{shell}_complete" in result.stdout and "tiktok-sim" in result.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["completion", "tcsh"])
    assert result.exit_code == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.output


def test_completion_requests_are_answered() -> None:
    env = {COMPLETE_VAR: "bash_complete", "COMP_WORDS": "tiktok-sim sch", "COMP_CWORD": "1"}
    commands = CliRunner().invoke(main, [], env=env, prog_name="tiktok-sim")
    assert commands.exit_code == 0 and commands.output == "plain,schema\n"
    env |= {"COMP_WORDS": "tiktok-sim run x.yaml --re", "COMP_CWORD": "3"}
    options = CliRunner().invoke(main, [], env=env, prog_name="tiktok-sim")
    assert options.output.split() == ["plain,--reps", "plain,--resume"]


SHORT = ("--set", "run.duration=3h", "--executor", "serial")


def _unfinish(out: Path, lost: str) -> None:
    """Make ``out`` look like an experiment interrupted before task ``lost`` finished."""
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    for path in [*out.glob("*.*"), *(out / "shards").glob(f"{lost}.*")]:
        if path.name != "manifest.json":
            path.unlink()


def test_compare_out_is_an_experiment_that_check_report_and_resume_take(tiny_file: Path, tmp_path: Path) -> None:
    better = tmp_path / "better.yaml"
    (tmp_path / "tiny.yaml").write_text(tiny_file.read_text())
    better.write_text("extends: tiny.yaml\nfeatured: {me: {hook: 0.9, quality: 0.9}}\n")
    out = tmp_path / "ab"
    args = ["compare", str(tmp_path / "tiny.yaml"), str(better), "--reps", "2", *SHORT, "--out", str(out)]
    printed = CliRunner().invoke(main, args)
    assert printed.exit_code == 0, printed.output
    heading = " ".join(printed.output.split("; 2 paired replications")[0].split())  # wrapped to the width
    assert heading == f"A = {tmp_path / 'tiny.yaml'}, B = {better}"
    assert check_results(out) == []
    assert CliRunner().invoke(main, ["check", str(out)]).output == f"{out}: ok\n"
    reported = CliRunner().invoke(main, ["report", str(out)])
    assert reported.exit_code == 0 and reported.output == printed.output
    runs = (out / "runs.csv").read_text().splitlines()
    assert runs[0] == "run_id,point,replication,side,seed,error" and [r.split(",")[3] for r in runs[1:]] == [
        "A", "A", "B", "B",
    ]  # fmt: skip
    seeds = [r.split(",")[4] for r in runs[1:]]
    assert seeds[:2] == seeds[2:]  # replication r of A and of B share a seed

    _unfinish(out, "point00001-rep00001")
    assert check_results(out)[0].startswith("manifest.json: lists no files: an unfinished experiment (3 of 4 tasks")
    resumed = CliRunner().invoke(main, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == printed.output and resumed.stderr == f"resumed: 3 of 4 tasks reused from {out}\n"
    assert check_results(out) == []
    as_json = CliRunner().invoke(main, [*args, "--resume", "--json"])
    assert json.loads(as_json.stdout)["comparison"] == json.loads((out / "summary.json").read_text())["comparison"]
    assert as_json.stderr == f"resumed: 4 of 4 tasks reused from {out}\n"


def test_check_of_an_interrupted_experiment_gives_the_command_that_finishes_it(
    tiny_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reps"
    args = ["run", str(tiny_file), "--reps", "2", *SHORT, "--quiet", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/tiktok-sim", *args])  # what the manifest records
    assert CliRunner().invoke(main, args).exit_code == 0
    _unfinish(out, "point00000-rep00001")
    checked = CliRunner().invoke(main, ["check", str(out)])
    assert checked.exit_code == 1
    assert checked.output.splitlines() == [
        f"{out}/manifest.json: lists no files: an unfinished experiment (1 of 2 tasks have a shard; "
        "interrupted, or every task failed)",
        f"to finish it, run this from the folder it was started in: {shlex.join(['tiktok-sim', *args, '--resume'])}",
    ]
    command = shlex.split(checked.output.splitlines()[1].split(": ", 1)[1])
    assert CliRunner().invoke(main, command[1:]).exit_code == 0
    assert check_results(out) == []


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["/x/bin/tiktok-sim", "sweep", "a b.yaml", "--out", "o"], "tiktok-sim sweep 'a b.yaml' --out o --resume"),
        (["/x/tiktok_sim/__main__.py", "run", "a.yaml", "--resume"], "python -m tiktok_sim run a.yaml --resume"),
        (["tiktok-sim", "compare", "a.yaml", "b.yaml", "--force"], "tiktok-sim compare a.yaml b.yaml --resume"),
        (["/x/bin/pytest", "tests"], None),
        (["tiktok-sim", "check", "o"], None),
        ("tiktok-sim run", None),
        (None, None),
    ],
)
def test_the_resume_command_is_the_recorded_one(argv: Any, command: str | None) -> None:
    assert resume_command(argv) == command


@pytest.mark.parametrize("command", ["run", "sweep", "compare"])
@pytest.mark.parametrize("flag", ["--resume", "--force"])
def test_resume_and_force_need_out(tiny_file: Path, command: str, flag: str) -> None:
    files = [str(tiny_file)] * (2 if command == "compare" else 1)
    result = CliRunner().invoke(main, [command, *files, "--reps", "2", flag])
    assert result.exit_code == 2 and f"{flag} needs --out DIR" in result.output, result.output


def _commands() -> list[tuple[str, click.Command]]:
    assert isinstance(main, click.Group)
    return [("tiktok-sim", main), *main.commands.items()]


@pytest.mark.parametrize(("name", "command"), _commands(), ids=[name for name, _ in _commands()])
def test_every_help_ends_with_examples_that_parse(name: str, command: click.Command) -> None:
    printed = CliRunner().invoke(main, [*([] if command is main else [name]), "--help"])
    assert printed.exit_code == 0
    tail = printed.output.rstrip().split("\n\n")[-1].splitlines()
    assert tail[0].strip() == "Examples:" and 1 <= len(tail) - 1 <= 2, printed.output
    for line in tail[1:]:
        words = shlex.split(line)
        words = words[: next((i for i, w in enumerate(words) if w in (">", "|", "&&")), len(words))]
        assert words[0] == "tiktok-sim" and (command is main or words[1] == name), line
        parsed = words[1:] if command is main else words[2:]
        if command is not main:
            command.make_context(name, parsed)  # options, choices and ranges as click reads them
