"""`check` fails closed: every file of a run and of an experiment, tampered with in every way, is caught in one line."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tiktok_sim.cli import main
from tiktok_sim.experiments import gather, summaries
from tiktok_sim.scenario.sweep import texts
from tiktok_sim.shards import LEGACY_TABLES, ShardStore, metrics_of

SMALL = ("--set", "run.duration=12h", "--set", "users.count=800", "--set", "creators.count=40")
EDITED_COLUMN = {"videos.csv": "views", "creators.csv": "views", "reach.csv": "views", "stages.csv": "stage",
                 "gates.csv": "value", "audience.csv": "views", "runs.csv": "seed", "summary.csv": "mean",
                 "funnel.csv": "entered"}  # fmt: skip
"""The number each CSV's edit changes: one that some other file determines, so a re-hash cannot hide it."""
EDITED_KEY: dict[str, tuple[str, ...]] = {"summary.json": ("impressions",), "manifest.json": ("seed",)}
EXPERIMENT_KEY: dict[str, tuple[str, ...]] = {
    "summary.json": ("root_seed",),
    "manifest.json": ("root_seed",),
    "shard": ("metrics", "impressions"),
}


def check(directory: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", str(directory)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def run_dir(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    result = CliRunner().invoke(main, ["run", str(tiny_file), *SMALL, "--seed", "4", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    stages = (out / "stages.csv").read_text().splitlines()
    assert any(line.split(",")[-4] == "1" for line in stages[1:])  # a promotion, so a climb has two steps
    return out


@pytest.fixture(scope="module")
def experiment_dir(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment") / "out"
    args = ["sweep", str(tiny_file), *SMALL, "--vary", "recommender.exploration=0.05,0.5", "--reps", "2"]
    result = CliRunner().invoke(main, [*args, "--seed", "3", "--executor", "serial", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _data_edit(path: Path, value: Callable[[str], str]) -> None:
    """Change the edited column of the last row with a number in it."""
    lines = _lines(path)
    name = path.name.split(".", 1)[-1] if path.parent.name == "shards" else path.name
    col = lines[0].rstrip("\n").split(",").index(EDITED_COLUMN[name])
    for i in range(len(lines) - 1, 0, -1):
        fields = lines[i].rstrip("\n").split(",")
        if fields[col].lstrip("-").replace(".", "", 1).isdigit():
            fields[col] = value(fields[col])
            lines[i] = ",".join(fields) + "\n"
            path.write_text("".join(lines))
            return
    raise AssertionError(f"no number to edit in {path}")


def _plus_one(text: str) -> str:
    return str(int(text) + 1) if text.lstrip("-").isdigit() else repr(float(text) + 1)


def _delete_row(path: Path) -> None:
    lines = _lines(path)
    del lines[len(lines) // 2 if len(lines) > 2 else 1]
    path.write_text("".join(lines))


def _reverse_rows(path: Path) -> None:
    lines = _lines(path)
    assert len(set(lines[1:])) > 1, path  # reversing must change something
    path.write_text("".join(lines[:1] + lines[:0:-1]))


def _drop_column(path: Path) -> None:
    path.write_text("".join(",".join(line.rstrip("\n").split(",")[:-1]) + "\n" for line in _lines(path)))


def _ragged(path: Path) -> None:
    lines = _lines(path)
    lines[-1] = lines[-1].rstrip("\n") + ",1\n"
    path.write_text("".join(lines))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CSV_TAMPERS: dict[str, Callable[[Path], None]] = {
    "edit a number": lambda p: _data_edit(p, _plus_one),
    "text in a number": lambda p: _data_edit(p, lambda _: "many"),
    "delete a row": _delete_row,
    "reorder rows": _reverse_rows,
    "drop a column": _drop_column,
    "ragged row": _ragged,
    "truncate": _truncate,
}


def _json_edit(path: Path, keys: tuple[str, ...], value: Callable[[Any], Any]) -> None:
    document = json.loads(path.read_text())
    inner = document
    for key in keys[:-1]:
        inner = inner[key]
    inner[keys[-1]] = value(inner[keys[-1]])
    path.write_text(json.dumps(document, indent=2))


def _json_tampers(keys: tuple[str, ...]) -> dict[str, Callable[[Path], None]]:
    return {
        "edit a number": lambda p: _json_edit(p, keys, lambda v: v + 1),
        "text in a number": lambda p: _json_edit(p, keys, lambda _: "many"),
        "delete a key": lambda p: _json_edit(p, keys, lambda _: None) if len(keys) > 1 else _drop_key(p, keys[0]),
        "wrong shape": lambda p: p.write_text("[1, 2, 3]"),
        "truncate": _truncate,
    }


def _drop_key(path: Path, key: str) -> None:
    document = json.loads(path.read_text())
    del document[key]
    path.write_text(json.dumps(document))


def _garbage(path: Path) -> None:
    path.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")


BINARY_TAMPERS: dict[str, Callable[[Path], None]] = {"truncate": _truncate, "garbage": _garbage}


def _tampers(name: str, keys: dict[str, tuple[str, ...]]) -> dict[str, Callable[[Path], None]]:
    if name.endswith(".parquet"):
        return BINARY_TAMPERS
    if name.endswith(".csv"):
        return CSV_TAMPERS
    return _json_tampers(keys["shard" if name.startswith("shards/") else name])


def _rehash(directory: Path, name: str) -> None:
    """Update the manifest so the tampered file's hash matches again."""
    if name == "manifest.json":
        return  # the manifest vouches for the others, not for itself
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if isinstance(manifest.get("files"), dict):
        manifest["files"][name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        manifest_path.write_text(json.dumps(manifest, indent=2))


def _every_tampering(directory: Path, keys: dict[str, tuple[str, ...]], tmp_path: Path, rehash: bool) -> int:
    """Tamper with each file in each way, on a fresh copy each time; every one must fail with one-line reasons."""
    names = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    cases = 0
    for name in names:
        for how, tamper in _tampers(name, keys).items():
            if rehash and name.endswith(".parquet") and how == "garbage":
                continue  # not Parquet at all: reading it fails the same way as truncation
            copy = Path(shutil.copytree(directory, tmp_path / f"case{cases}"))
            tamper(copy / name)
            if rehash:
                _rehash(copy, name)
            code, output = check(copy)
            assert code == 1 and output.strip(), f"{name}, {how}, re-hashed={rehash}: {output}"
            assert all(line and "Traceback" not in line for line in output.splitlines()), output
            shutil.rmtree(copy)
            cases += 1
    return cases


@pytest.mark.parametrize("rehash", [False, True], ids=["as-is", "re-hashed"])
def test_every_tampering_of_a_run_is_caught(run_dir: Path, tmp_path: Path, rehash: bool) -> None:
    assert check(run_dir) == (0, f"{run_dir}: ok\n")
    assert _every_tampering(run_dir, EDITED_KEY, tmp_path, rehash) >= 6 * 5


@pytest.mark.parametrize("rehash", [False, True], ids=["as-is", "re-hashed"])
def test_every_tampering_of_an_experiment_is_caught(experiment_dir: Path, tmp_path: Path, rehash: bool) -> None:
    assert check(experiment_dir) == (0, f"{experiment_dir}: ok\n")
    assert _every_tampering(experiment_dir, EXPERIMENT_KEY, tmp_path, rehash) >= 20 * 5


def _copy(directory: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(directory, tmp_path / "copy"))


def _manifest(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / "manifest.json").read_text()))


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize("which", ["run", "experiment"])
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.pop("files"), "manifest.json: lists no files"),
        (lambda m: m.update(files={}), "manifest.json: lists no files"),
        (lambda m: m["files"].pop(sorted(m["files"])[0]), ": not listed in manifest.json"),
        (lambda m: m["files"].update({"ghost.csv": "0" * 64}), "ghost.csv: listed in manifest.json but missing"),
        (lambda m: m["files"].update({"../outside.csv": "0" * 64}), "'../outside.csv' is not a path inside"),
        (lambda m: m.update(scenario_sha256="0" * 64), "scenario_sha256: manifest.json says 000000000000"),
    ],
)
def test_a_manifest_that_gives_up_its_guard_is_itself_an_error(
    run_dir: Path, experiment_dir: Path, tmp_path: Path, which: str, edit: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:  # fmt: skip
    copy = _copy(run_dir if which == "run" else experiment_dir, tmp_path)
    manifest = _manifest(copy)
    edit(manifest)
    _write_manifest(copy, manifest)
    (copy / "videos.csv").write_text("corrupt\n")  # what a disabled check would let through
    code, output = check(copy)
    expected = expected if which == "run" or "scenario_sha256" not in expected else "manifest.json: scenario_sha256"
    assert code == 1 and expected in output, output


def test_a_missing_manifest_or_directory_is_an_error(run_dir: Path, tmp_path: Path) -> None:
    copy = _copy(run_dir, tmp_path)
    (copy / "manifest.json").unlink()
    assert check(copy) == (1, f"{copy}/manifest.json: missing\n")
    assert check(tmp_path / "nowhere") == (1, f"{tmp_path / 'nowhere'}: not a directory\n")


def test_a_stray_file_is_an_error_even_when_listed(experiment_dir: Path, tmp_path: Path) -> None:
    copy = _copy(experiment_dir, tmp_path)
    manifest = _manifest(copy)
    for name in ("notes.txt", "shards/point00007-rep00000.json"):
        (copy / name).write_text("{}")
        manifest["files"][name] = hashlib.sha256(b"{}").hexdigest()
    _write_manifest(copy, manifest)
    code, output = check(copy)
    assert code == 1 and "notes.txt: not a file these results hold" in output, output
    assert "shards/point00007-rep00000.json: not a task of this experiment" in output


def _rewrite_shard(directory: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    path = directory / "shards" / name
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    _rehash(directory, f"shards/{name}")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r.update(error="RuntimeError: boom"), "records an error (RuntimeError: boom) yet has results"),
        (lambda r: r.update(seed=r["seed"] + 1), "is not task p0-r1's under root seed 3"),
        (lambda r: r.update(scenario_sha256="f" * 64), "scenario ffffffffffff is not point 0's"),
        (lambda r: r.update(params={"recommender.exploration": "0.5"}), "are not point 0's"),
        (lambda r: r["metrics"].update(views_gini=0.5), "its shard says views_gini is 0.5, its tables give"),
    ],
)
def test_a_shard_that_is_not_its_task_is_caught(
    experiment_dir: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    copy = _copy(experiment_dir, tmp_path)
    _rewrite_shard(copy, "point00000-rep00001.json", edit)
    code, output = check(copy)
    assert code == 1 and expected in output, output


def test_deleted_runs_and_funnel_rows_are_caught_even_when_rehashed(experiment_dir: Path, tmp_path: Path) -> None:
    copy = _copy(experiment_dir, tmp_path)
    for name in ("runs.csv", "funnel.csv"):
        _delete_row(copy / name)
        _rehash(copy, name)
    code, output = check(copy)
    assert code == 1, output
    assert "runs.csv: line 3 differs from what its shards give" in output
    assert "funnel.csv: differs from its shards' funnel tables, one after another" in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "video_id,stage\n",
            "stages.csv: missing column(s) views, completions, likes, comments, shares, follows, "
            "passed, failed_gate, failed_threshold",
        ),
        (None, "stages.csv: line 2: stage: expected 0 to 2, found 7"),
        ("", "stages.csv: empty, expected a header"),
    ],
)
def test_malformed_content_gets_one_line(run_dir: Path, tmp_path: Path, text: str | None, expected: str) -> None:
    copy = _copy(run_dir, tmp_path)
    stages = copy / "stages.csv"
    if text is None:
        lines = _lines(stages)
        fields = lines[1].split(",")
        lines[1] = ",".join([fields[0], "7", *fields[2:]])
        text = "".join(lines)
    stages.write_text(text)
    _rehash(copy, "stages.csv")
    assert check(copy) == (1, f"{copy}/{expected}\n")


def _set_field(path: Path, column: str, value: Callable[[str], str], row: int = -1) -> None:
    """Change one field of a CSV row (the last by default)."""
    lines = _lines(path)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[row].rstrip("\n").split(",")
    fields[header.index(column)] = value(fields[header.index(column)])
    lines[row] = ",".join(fields) + "\n"
    path.write_text("".join(lines))


OTHER = {"followers": _plus_one, "region": lambda r: "uk" if r != "uk" else "us", "language": lambda _: "xx"}
"""An edit of each of videos.csv's creator columns that stays a well-formed value."""


@pytest.mark.parametrize("column", list(OTHER))
def test_an_edit_to_a_videos_creator_columns_is_caught_even_when_rehashed(
    run_dir: Path, experiment_dir: Path, tmp_path: Path, column: str
) -> None:
    expected = "videos do not carry their creator's followers, region, language from creators.csv"
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    _set_field(run / "videos.csv", column, OTHER[column])
    _rehash(run, "videos.csv")
    code, output = check(run)
    assert code == 1 and "videos.csv: 1 of " in output and expected in output, output
    experiment = Path(shutil.copytree(experiment_dir, tmp_path / "experiment"))
    name = "shards/point00001-rep00001.videos.csv"
    _set_field(experiment / name, column, OTHER[column])
    _rehash(experiment, name)
    code, output = check(experiment)
    assert code == 1 and f"{name}: 1 of " in output and expected in output, output


@pytest.mark.parametrize(("column", "expected"), [
    ("region", "creators.csv: line 2: region: 'atlantis' is not a region of the scenario"),
    ("language", "creators.csv: line 2: language: 'xx' is not region us's first language, 'en'"),
])  # fmt: skip
def test_an_edit_to_a_creators_region_or_language_is_caught_even_when_rehashed(
    run_dir: Path, tmp_path: Path, column: str, expected: str
) -> None:
    copy = _copy(run_dir, tmp_path)
    _set_field(copy / "creators.csv", column, lambda _: "atlantis" if column == "region" else "xx", row=1)
    _rehash(copy, "creators.csv")
    code, output = check(copy)
    assert code == 1 and expected in output and "do not carry their creator's followers, region" in output, output


def test_an_edit_to_a_top_view_share_is_caught_even_when_rehashed(
    run_dir: Path, experiment_dir: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    _json_edit(run / "summary.json", ("top10_view_share",), lambda v: round(v + 0.01, 4))
    _rehash(run, "summary.json")
    code, output = check(run)
    assert code == 1 and "summary.json: top10_view_share is" in output, output
    experiment = Path(shutil.copytree(experiment_dir, tmp_path / "experiment"))
    _rewrite_shard(experiment, "point00000-rep00001.json", lambda r: r["metrics"].update(top1_view_share=0.5))
    code, output = check(experiment)
    assert code == 1 and "its shard says top1_view_share is 0.5, its tables give" in output, output


def _strip_columns(path: Path, count: int) -> None:
    path.write_text("".join(",".join(line.rstrip("\n").split(",")[:-count]) + "\n" for line in _lines(path)))


def _report(directory: Path) -> str:
    result = CliRunner().invoke(main, ["report", str(directory), "--width", "120"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_run_of_schema_version_1_is_still_checked_and_reported(run_dir: Path, tmp_path: Path) -> None:
    old = _copy(run_dir, tmp_path)
    _strip_columns(old / "videos.csv", 3)  # followers, region, language
    _strip_columns(old / "creators.csv", 2)  # region, language
    summary = json.loads((old / "summary.json").read_text())
    del summary["top1_view_share"], summary["top10_view_share"]
    (old / "summary.json").write_text(json.dumps({**summary, "schema_version": 1}, indent=2))
    manifest = _manifest(old)
    del manifest["schema_version"]
    _write_manifest(old, manifest)
    for name in ("videos.csv", "creators.csv", "summary.json"):
        _rehash(old, name)
    assert check(old) == (0, f"{old}: ok\n")
    assert _report(old) == _report(run_dir)
    explained = [CliRunner().invoke(main, ["explain", str(d), "--creator", "me"]) for d in (old, run_dir)]
    assert explained[0].exit_code == 0 and explained[0].output == explained[1].output, explained[0].output
    (old / "summary.json").write_text(json.dumps({**summary, "schema_version": 2}, indent=2))
    _rehash(old, "summary.json")
    code, output = check(old)  # version 2 needs the new columns
    assert code == 1 and "videos.csv: missing column(s) followers, region, language" in output, output


def test_an_experiment_of_schema_version_1_with_text_values_is_still_checked_and_reported(
    experiment_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _copy(experiment_dir, tmp_path)
    manifest = _manifest(old)
    del manifest["schema_version"], manifest["files"]
    for point in manifest["points"]:
        point["params"] = texts(point["params"])  # "0.05", as sweeps wrote them before they were typed
    shards = old / "shards"
    for path in shards.glob("*.creators.csv"):
        path.unlink()
    for path in shards.glob("*.videos.csv"):
        _strip_columns(path, 3)
    for path in shards.glob("*.json"):
        record = json.loads(path.read_text())
        for name in ("top1_view_share", "top10_view_share"):
            record["metrics"].pop(name)
        path.write_text(json.dumps({**record, "params": texts(record["params"])}))
    for path in old.iterdir():
        if path.is_file():
            path.unlink()
    store = ShardStore(old)
    records = store.records()
    results = [
        (point["params"], gather([r["seed"] for r in mine], [metrics_of(r) for r in mine]))
        for p, point in enumerate(manifest["points"])
        for mine in [[r for r in records if r["point"] == p]]
    ]
    summary, rows = summaries(manifest["kind"], manifest["root_seed"], manifest["reps"], results)
    with monkeypatch.context() as patch:  # the set as the version before wrote it: no creators table
        patch.setattr("tiktok_sim.shards.TABLES", LEGACY_TABLES)
        patch.setattr("tiktok_sim.shards.EXPERIMENT_TABLES", ("runs", "summary", "videos", "funnel"))
        store.finish(summary, rows, manifest)
    assert json.loads((old / "summary.json").read_text())["points"][0]["recommender.exploration"] == "0.05"
    assert not (old / "creators.csv").exists()
    assert check(old) == (0, f"{old}: ok\n")
    assert _report(old) == _report(experiment_dir)  # text and typed values read the same
    _rewrite_shard(old, "point00000-rep00001.json", lambda r: r.update(params={"recommender.exploration": 0.05}))
    code, output = check(old)  # typed in a shard, text in the manifest: not the same point
    assert code == 1 and "are not point 0's" in output, output
