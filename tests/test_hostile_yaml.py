"""YAML built to choke the parser, and hostile extends: chains: one positioned line and exit 2, never a traceback.

Every document here is generated, at sizes on both sides of each limit.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tiktok_sim.cli import main
from tiktok_sim.scenario import load_scenario
from tiktok_sim.scenario.guard import MAX_DEPTH, MAX_NODES
from tiktok_sim.scenario.loader import MAX_EXTENDS

from .conftest import ROOT

DEPTH_ERROR = f"expected at most {MAX_DEPTH} levels of nesting, found more"
SIZE_ERROR = f"expected at most {MAX_NODES:,} keys and values (aliases count in full), found more"


def refused(path: Path, *options: str) -> str:
    """The single line ``validate`` prints for a refused scenario (exit 2, nothing raised)."""
    result = CliRunner().invoke(main, ["validate", str(path), *options])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output[:500]
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output[:500]
    return lines[0]


def write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# Each style nests `depth` lists or maps under the key `a` (the top-level map is level 1),
# and says where its k-th nested collection starts: (line, column), both 1-based.
Nesting = Callable[[int], str]
NESTINGS: dict[str, tuple[Nesting, Callable[[int], tuple[int, int]]]] = {
    "flow lists": (lambda d: "a: " + "[" * d + "]" * d + "\n", lambda k: (1, 3 + k)),
    "flow maps": (lambda d: "a: " + "{k: " * d + "1" + "}" * d + "\n", lambda k: (1, 4 * k)),
    "block maps": (
        lambda d: "a:\n" + "".join("  " * i + "k:\n" for i in range(1, d)) + "  " * d + "k: 1\n",
        lambda k: (k + 1, 2 * k + 1),
    ),
    "block lists": (
        lambda d: "a:\n" + "".join("  " * i + "-\n" for i in range(1, d)) + "  " * d + "- 1\n",
        lambda k: (k + 1, 2 * k + 1),
    ),
}


@pytest.mark.parametrize("style", NESTINGS)
@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, 300, 1_000])
def test_deep_nesting_is_refused_at_the_first_level_too_deep(tmp_path: Path, style: str, depth: int) -> None:
    text, start = NESTINGS[style]
    path = write(tmp_path, text(depth))
    line = refused(path)
    if depth + 1 <= MAX_DEPTH:  # within the limit: parsed, then refused by the schema
        assert line.startswith(f"{path}:1:1: a: unknown key 'a'"), line
    else:
        row, col = start(MAX_DEPTH)  # the collection that makes MAX_DEPTH + 1 levels
        assert line.startswith(f"{path}:{row}:{col}: a."), line
        assert line.endswith(DEPTH_ERROR), line


def test_a_parser_crushing_file_fails_in_one_line_in_a_real_process(tmp_path: Path) -> None:
    path = write(tmp_path, "a: " + "[" * 200_000 + "\n")  # unclosed, so only depth stops it
    command = [sys.executable, "-m", "tiktok_sim", "validate", str(path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip() == f"{path}:1:{3 + MAX_DEPTH}: a.0.0...: {DEPTH_ERROR}"


@pytest.mark.parametrize("flow", [True, False])
def test_wide_documents_are_refused_at_the_value_past_the_limit(tmp_path: Path, flow: bool) -> None:
    def topics(n: int) -> str:
        names = [f"t{i}" for i in range(n)]
        return f"topics: [{', '.join(names)}]\n" if flow else "topics:\n" + "".join(f"- {t}\n" for t in names)

    below = refused(write(tmp_path, topics(MAX_NODES // 2), "below.yaml"))
    assert "topics: List should have at most 63 items" in below, below
    path = write(tmp_path, topics(MAX_NODES * 3))
    line = refused(path)
    first_over = MAX_NODES - 3  # the map, the key and the list count too
    item = f"t{first_over}"
    where = f"1:{path.read_text().index(f' {item},') + 2}" if flow else f"{first_over + 2}:3"
    assert line == f"{path}:{where}: topics.{first_over}: {SIZE_ERROR}"


def test_a_map_with_too_many_keys_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n" + "".join(f"  k{i}: {i}\n" for i in range(MAX_NODES)))
    line = refused(path)
    assert line.startswith(f"{path}:") and ": users.k" in line and line.endswith(SIZE_ERROR), line


def laughs(width: int, levels: int) -> str:
    """The billion-laughs document: each line lists the previous line's anchor ``width`` times."""
    names = [f"l{i}" for i in range(levels)]
    text = f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]\n"
    return text + "".join(f"{b}: &{b} [{', '.join(['*' + a] * width)}]\n" for a, b in itertools.pairwise(names))


def first_line_over_the_limit(width: int) -> int:
    """Which line of :func:`laughs` takes the expanded count past MAX_NODES, counted by hand."""
    total, size, line = 1, 1, 0  # the top map; a scalar counts 1
    while total <= MAX_NODES:
        size = 1 + width * size  # this line's list: itself and width copies of the previous one
        total += 1 + size  # its key and its list
        line += 1
    return line


@pytest.mark.parametrize(("width", "levels"), [(10, 9), (2, 40), (1_000, 3)])
def test_alias_bombs_are_refused_where_the_expansion_crosses_the_limit(tmp_path: Path, width: int, levels: int) -> None:
    path = write(tmp_path, laughs(width, levels))
    line = refused(path)
    assert line.startswith(f"{path}:{first_line_over_the_limit(width)}:") and line.endswith(SIZE_ERROR), line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [*a]\n", "1:8: a.0: expected an alias to a finished value, found *a inside &a"),
        ("a: &x {b: [1, {c: *x}]}\n", "1:19: a.b.1.c: expected an alias to a finished value, found *x inside &x"),
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert refused(path) == f"{path}:{expected}"


def test_plain_anchors_and_aliases_still_load(tmp_path: Path) -> None:
    gate = "{type: absolute, completion: 0.3}"
    aliased = write(tmp_path, f"ladder:\n  - {{pool: 10, window: 1h, gates: [&g {gate}]}}\n"
                    "  - {pool: 20, window: 1h, gates: [*g]}\n", "aliased.yaml")  # fmt: skip
    spelled = write(tmp_path, f"ladder:\n  - {{pool: 10, window: 1h, gates: [{gate}]}}\n"
                    f"  - {{pool: 20, window: 1h, gates: [{gate}]}}\n", "spelled.yaml")  # fmt: skip
    assert load_scenario(aliased) == load_scenario(spelled)


@pytest.mark.parametrize(
    ("text", "where", "tag"),
    [
        ("users: !!omap [{count: 5}]\n", "1:8: users", "!!omap"),
        ("users: !!python/object/apply:os.system [echo]\n", "1:8: users", "!!python/object/apply:os.system"),
        ("name: !!python/name:os.system\n", "1:7: name", "!!python/name:os.system"),
        ("users: !custom {count: 5}\n", "1:8: users", "!custom"),
        ("name: !!str 5\n", "1:7: name", "!!str"),
        ("topics: !!set {a, b}\n", "1:9: topics", "!!set"),
        ("name: ! x\n", "1:7: name", "!"),
        ("!!map {name: x}\n", "1:1", "!!map"),
        ("? !!str name\n: x\n", "1:3: name", "!!str"),
        ("%TAG !e! tag:example.com,2000:\n---\nname: !e!x 5\n", "3:7: name", "tag:example.com,2000:x"),
    ],
)
def test_tags_are_refused_at_their_position(tmp_path: Path, text: str, where: str, tag: str) -> None:
    path = write(tmp_path, text)
    assert refused(path) == f"{path}:{where}: expected plain YAML values, found the tag {tag}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("base: &b {count: 5}\nusers:\n  <<: *b\n", "3:3: users.<<"),
        ("users: {<<: [{count: 5}, {count: 6}]}\n", "1:9: users.<<"),
        ("<<: {name: x}\n", "1:1: <<"),
        ("ladder:\n  - pool: 10\n    <<: {window: 1h}\n", "3:5: ladder.0.<<"),
    ],
)
def test_merge_keys_are_refused_at_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert refused(path) == f"{path}:{expected}: expected plain keys, found a merge key (<<); write the keys out"


def test_a_quoted_merge_key_is_just_an_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "'<<': {name: x}\n")
    assert refused(path).startswith(f"{path}:1:1: <<: unknown key '<<'")


@pytest.mark.parametrize(
    ("text", "where", "found"),
    [
        ("name: x\n? [a, b]\n: 3\n", "2:3: ?", "a list"),
        ("name: x\nusers:\n  ? {count: 1}\n  : 3\n", "3:5: users.?", "a map"),
        ("name: &n x\n*n : 3\n", "2:1: ?", "an alias"),
    ],
)
def test_a_key_that_is_not_a_name_is_refused_at_its_position(tmp_path: Path, text: str, where: str, found: str) -> None:
    # Before this check, a map or list as a key reached ruamel's own duplicate-key check and crashed it.
    path = write(tmp_path, text)
    assert refused(path) == f"{path}:{where}: expected a plain key (a name), found {found} as a key"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[" * 1_000 + "]" * 1_000, DEPTH_ERROR),
        ("!!python/object/apply:os.system [echo]", "expected plain YAML values, found the tag !!python/object/apply"),
        ("&a [*a]", "expected an alias to a finished value, found *a inside &a"),
        ("{<<: {a: 1}}", "expected plain keys, found a merge key (<<)"),
    ],
)
def test_set_values_meet_the_same_limits(tmp_path: Path, value: str, expected: str) -> None:
    line = refused(write(tmp_path, "name: x\n"), "--set", f"name={value}")
    assert line.startswith(f"--set: name: {expected}"), line


def test_a_long_chain_of_extends_is_refused_at_the_file_past_the_limit(tmp_path: Path) -> None:
    for i in range(1_000):
        write(tmp_path, f"extends: c{i + 1}.yaml\n", f"c{i}.yaml")
    limit = f"extends: expected at most {MAX_EXTENDS} files in an extends: chain, found more"
    assert refused(tmp_path / "c0.yaml") == f"{tmp_path / f'c{MAX_EXTENDS - 1}.yaml'}:1:1: {limit}"
    write(tmp_path, "name: end\n", f"c{MAX_EXTENDS - 1}.yaml")  # the longest chain allowed
    assert load_scenario(tmp_path / "c0.yaml").name == "end"


def test_a_file_that_extends_itself_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "extends: ./s.yaml\n")
    assert refused(path) == f"{path}:1:1: extends: expected no cycle, found s.yaml -> s.yaml"


def test_extends_names_no_file_system_would_take(tmp_path: Path) -> None:
    os.symlink("loop2.yaml", tmp_path / "loop1.yaml")
    os.symlink("loop1.yaml", tmp_path / "loop2.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "folder").mkdir()
    cases = {
        '"a\\0b.yaml"': "expected a file name, found a NUL byte in it",
        "x" * 5_000: "expected a file name of at most 1,000 characters, found 5,000",
        "x" * 300: "expected a regular file, found a name too long for the file system at 'xxxx",
        "loop1.yaml": "expected a file, found a symlink loop at 'loop1.yaml'",
        "pipe.yaml": "expected a regular file, found a named pipe at 'pipe.yaml'",  # and the load does not hang
        "folder": "expected a regular file, found a directory at 'folder'",
        "[a.yaml]": "expected a file name, found ['a.yaml']",
        "''": "expected a file name, found ''",
    }
    for ref, expected in cases.items():
        path = write(tmp_path, f"extends: {ref}\n")
        line = refused(path)
        assert line.startswith(f"{path}:1:1: extends: {expected}") and len(line) < len(str(path)) + 200, line


def test_extends_stays_inside_the_folder_of_the_scenario_run(tmp_path: Path) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "bases").mkdir(parents=True)
    elsewhere.mkdir()
    secret = write(elsewhere, "SECRET-TOKEN-1234\nmore: lines\n", "secret.yaml")
    os.symlink(secret, project / "link.yaml")
    outside = "extends: expected a file in the folder of s.yaml or below it, found {!r:.40}"
    for ref in (str(secret), "../elsewhere/secret.yaml", "link.yaml", "../elsewhere/missing.yaml", "/etc/passwd"):
        path = write(project, f"extends: {ref}\n")
        line = refused(path)
        assert line.startswith(f"{path}:1:1: " + outside.format(ref)) and "SECRET" not in line, line
    # Subfolders belong to the project, and a base there may point back up inside it.
    write(project, "name: top\nusers: {count: 7}\n", "top.yaml")
    write(project / "bases", "extends: ../top.yaml\nname: base\n", "base.yaml")
    child = write(project, "extends: bases/base.yaml\n", "child.yaml")
    assert (load_scenario(child).name, load_scenario(child).users.count) == ("base", 7)
    # The project is the folder of the file run: the base run on its own cannot reach up.
    line = refused(project / "bases" / "base.yaml")
    assert line.endswith("extends: expected a file in the folder of base.yaml or below it, found '../top.yaml'")


def test_a_named_pipe_as_the_scenario_file_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "s.yaml")
    assert refused(tmp_path / "s.yaml") == f"{tmp_path / 's.yaml'}: expected a scenario file, found a named pipe"


def test_a_symlink_loop_as_the_scenario_file(tmp_path: Path) -> None:
    os.symlink("s.yaml", tmp_path / "s.yaml")
    assert refused(tmp_path / "s.yaml") == f"{tmp_path / 's.yaml'}: expected a scenario file, found a symlink loop"


def test_a_long_value_where_a_mapping_belongs_is_quoted_short(tmp_path: Path) -> None:
    path = write(tmp_path, "word " * 10_000)
    line = refused(path)
    assert line.startswith(f"{path}:1:1: expected a mapping of scenario keys, found the value 'word word")
    assert line.endswith("...") and len(line) < len(str(path)) + 160, line
