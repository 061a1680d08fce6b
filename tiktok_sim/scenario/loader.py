"""Load a scenario: YAML with positions, ``extends:`` inheritance, ``--set`` overrides.

Every problem becomes a :class:`~tiktok_sim.errors.Problem` that names the file, line,
column and key path, so the CLI can print one line per problem and exit 2.
"""

from __future__ import annotations

import copy
import difflib
import errno
import functools
import hashlib
import json
import os
import stat
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tiktok_sim.errors import Problem, ScenarioError
from tiktok_sim.scenario.guard import MAX_DEPTH, HostileYAML, check_structure
from tiktok_sim.scenario.schema import BOOLEAN_FOR_NUMBER, Scenario
from tiktok_sim.scenario.sweep import SWEEP_KEY, Origin, SweepBlock, SweepPlan, override_value, plan

MAX_FILE_BYTES = 2_000_000
"""Scenarios are hand-written; anything larger is a mistake, not a scenario."""
MAX_EXTENDS = 16
"""Files in one ``extends:`` chain; real chains have two or three."""
MAX_NAME = 1_000
"""Characters in an ``extends:`` name: longer is no file name anyone wrote."""

Path_ = tuple[str | int, ...]
Origins = dict[Path_, Origin]
SET_ORIGIN: Origin = ("--set", 0, 0)


def load_scenario(
    path: str | Path | None, overrides: Sequence[str] = (), placed: Sequence[tuple[str, Origin]] = ()
) -> Scenario:
    """Load, merge, override and validate a scenario file (its ``sweep:`` block is ignored).

    Args:
        path: the YAML file; None for the defaults alone.
        overrides: ``dotted.path=value`` strings; values are parsed as YAML scalars.
        placed: more overrides, each with where it was written (a sweep point's values),
            applied after ``overrides`` and named in their errors.

    Raises:
        ScenarioError: with every problem found, each positioned.
    """
    data: dict[str, Any] = Scenario().model_dump(mode="json")
    origins: Origins = {}
    if path is not None:
        file_data, file_origins = _resolve(Path(path))
        _merge(data, origins, _without(file_data, file_origins, SWEEP_KEY), file_origins, ())
    overridden: list[Path_] = []
    for item, where in [*((item, SET_ORIGIN) for item in overrides), *placed]:
        overridden.append(_apply_override(data, origins, item, where))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        name = "defaults" if path is None else str(path)
        raise ScenarioError(
            [_problem(err, data, origins, name, overridden=overridden) for err in exc.errors()]
        ) from None


def load_sweep(path: str | Path) -> SweepPlan | None:
    """The file's ``sweep:`` block (after ``extends:``), validated, or None if it has none.

    Raises:
        ScenarioError: with every problem in the block, each positioned.
    """
    data, origins = _resolve(Path(path))
    if SWEEP_KEY not in data:
        return None
    try:
        block = SweepBlock.model_validate(data[SWEEP_KEY])
    except ValidationError as exc:
        problems = [_problem(err, data, origins, str(path), SweepBlock, (SWEEP_KEY,)) for err in exc.errors()]
        raise ScenarioError(problems) from None
    top = origins[(SWEEP_KEY,)]
    return plan(block, {key: origins.get((SWEEP_KEY, "vary", key), top) for key in block.vary})


def sweep_origin(path: str | Path) -> Origin | None:
    """Where the file's ``sweep:`` block starts (after ``extends:``), or None if it has none."""
    data, origins = _resolve(Path(path))
    return origins[(SWEEP_KEY,)] if SWEEP_KEY in data else None


def _without(data: dict[str, Any], origins: Origins, key: str) -> dict[str, Any]:
    """``data`` without a top-level key (and that key's positions)."""
    for p in [p for p in origins if p[:1] == (key,)]:
        del origins[p]
    return {k: v for k, v in data.items() if k != key}


def scenario_sha256(scenario: Scenario) -> str:
    """A stable hash of the resolved scenario (its canonical JSON)."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _resolve(path: Path) -> tuple[dict[str, Any], Origins]:
    """Read ``path`` and everything it extends, merged child over parent."""
    layers = _chain(path)
    data, origins = layers.pop()
    while layers:
        child, child_origins = layers.pop()
        _merge(data, origins, child, child_origins, ())
    return data, origins


def _chain(path: Path) -> list[tuple[dict[str, Any], Origins]]:
    """``path``'s data, then that of the file it extends, and so on, each without ``extends``.

    Every file of the chain must lie in the folder of ``path`` or below it (the project), so a
    scenario cannot make the loader open, or quote in an error, a file from elsewhere.
    """
    layers = [_read(path)]
    project, here = path.parent.resolve(), path
    seen = [path.resolve()]
    while (ref := layers[-1][0].pop("extends", None)) is not None:
        where = layers[-1][1].pop(("extends",))
        if len(layers) >= MAX_EXTENDS:
            raise _extends_error(where, f"expected at most {MAX_EXTENDS} files in an extends: chain, found more")
        parent = _locate(ref, here.parent, project, where, path.name)
        if parent in seen:
            cycle = " -> ".join(p.name for p in (*seen, parent))
            raise _extends_error(where, f"expected no cycle, found {cycle}")
        seen.append(parent)
        layers.append(_read(parent))
        here = parent
    return layers


def _locate(ref: Any, folder: Path, project: Path, where: Origin, root: str) -> Path:
    """The regular file an ``extends:`` value names, relative to ``folder``, resolved.

    Names that no file system would take, and files outside ``project``, are refused
    before anything is opened: the error says nothing about what is there.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise _extends_error(where, f"expected a file name, found {_short(ref)}")
    if "\x00" in ref:
        raise _extends_error(where, "expected a file name, found a NUL byte in it")
    if len(ref) > MAX_NAME:
        raise _extends_error(where, f"expected a file name of at most {MAX_NAME:,} characters, found {len(ref):,}")
    try:
        target = (folder / ref).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python before 3.13)
        raise _extends_error(where, f"expected a file, found a symlink loop at {_short(ref)}") from None
    if not target.is_relative_to(project):
        raise _extends_error(where, f"expected a file in the folder of {root} or below it, found {_short(ref)}")
    found = _what_is(target)
    if found == NOTHING:
        raise _extends_error(where, f"expected an existing file, found no {_short(ref)}")
    if found != REGULAR:
        raise _extends_error(where, f"expected a regular file, found {found} at {_short(ref)}")
    return target


def _extends_error(where: Origin, message: str) -> ScenarioError:
    return ScenarioError([Problem(*where, "extends", message)])


REGULAR, NOTHING = "a regular file", "nothing there"


def _what_is(path: Path) -> str:
    """What is at ``path`` (symlinks followed), in words for an error message."""
    try:
        return _kind(path.stat().st_mode)
    except OSError as exc:
        return _os_words(exc)


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISREG, REGULAR), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"))
    return next((words for test, words in kinds if test(mode)), "a device or socket")


def _os_words(exc: OSError) -> str:
    words = {errno.ELOOP: "a symlink loop", errno.ENAMETOOLONG: "a name too long for the file system"}
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NOTHING
    return words.get(exc.errno or 0, f"an error: {exc.strerror}")


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters, so an echoed value keeps the error one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES.

    The file is opened without blocking and checked through the open handle, so a named
    pipe cannot hang the load, and a file cannot be swapped between the check and the read.

    Raises:
        ValueError: what was expected and what was found instead.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"expected a scenario file, found {_os_words(exc)}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"expected a scenario file, found {_kind(info.st_mode)}")
        limit = f"expected a scenario under {MAX_FILE_BYTES // 1_000_000} MB"
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{limit}, found {info.st_size / 1e6:.1f} MB")
        raw = handle.read(MAX_FILE_BYTES + 1)  # pseudo-files report a size of 0
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{limit}, found more")
    return raw


def _read(path: Path) -> tuple[dict[str, Any], Origins]:
    """Parse one YAML file into plain data plus the position of every key."""
    name = str(path)
    try:
        raw = _read_bytes(path)
    except ValueError as exc:
        raise _file_error(name, str(exc)) from None
    if b"\x00" in raw:
        raise _file_error(name, "expected YAML text, found binary data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _file_error(name, f"expected UTF-8 YAML text, found an undecodable byte at offset {exc.start}") from None
    if not text.strip():
        raise _file_error(name, "expected a mapping of scenario keys, found an empty file")
    data, origins = _parse(name, text)
    return copy.deepcopy(data), dict(origins)  # the callers merge into them


def _file_error(name: str, message: str, line: int = 0, col: int = 0, key: str = "") -> ScenarioError:
    return ScenarioError([Problem(name, line, col, key, message)])


@functools.lru_cache(maxsize=8)
def _parse(name: str, text: str) -> tuple[dict[str, Any], Origins]:
    """The plain data and key positions of a file's text.

    Remembered, since a sweep loads its file once per point: up to 1,000 parses of the same
    text would otherwise cost more than validating the points.
    """
    try:
        check_structure(text)
        doc = YAML(typ="rt", pure=True).load(text)
    except HostileYAML as exc:
        raise _file_error(name, exc.message, exc.line, exc.col, exc.path) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = (exc.problem or exc.context or "invalid YAML").replace("\t", "\\t")
        if "\\t" in what or "'\\t'" in what:
            what = "expected spaces for indentation, found a tab"
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise _file_error(name, f"invalid YAML: {what}", line, col) from None
    except YAMLError as exc:
        raise _file_error(name, f"invalid YAML: {exc}".splitlines()[0]) from None
    except RecursionError:  # the guard's limits keep the parser's stack shallow: a last resort
        message = f"expected at most {MAX_DEPTH} levels of nesting, found too many to parse"
        raise _file_error(name, message, 1, 1) from None
    if not isinstance(doc, CommentedMap):
        found = (
            "a list"
            if isinstance(doc, CommentedSeq)
            else "only comments"
            if doc is None
            else f"the value {_short(doc)}"
        )
        raise _file_error(name, f"expected a mapping of scenario keys, found {found}", 1, 1)
    origins: Origins = {(): (name, 1, 1)}
    return _plain(doc, (), name, origins), origins


def _plain(node: Any, path: Path_, name: str, origins: Origins) -> Any:
    """Convert ruamel nodes to dicts and lists, recording each key's position.

    The structure guard has bounded the depth and the expanded size, and refused
    aliases into themselves, so this recursion ends.
    """
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            line, col = node.lc.key(key)
            k = str(key)
            origins[(*path, k)] = (name, line + 1, col + 1)
            out[k] = _plain(value, (*path, k), name, origins)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            line, col = node.lc.item(i)
            origins[(*path, i)] = (name, line + 1, col + 1)
            items.append(_plain(value, (*path, i), name, origins))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def _merge(
    base: dict[str, Any], base_origins: Origins, child: dict[str, Any], child_origins: Origins, at: Path_
) -> None:
    """Deep-merge ``child`` into ``base``: maps merge, everything else replaces.

    A map naming another ``type`` (say a lognormal length over the default quantiles) is a
    different kind of value, so it replaces the base's instead of inheriting its keys.
    """
    for key, value in child.items():
        here = (*at, key)
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, list) and _all_named(old):
            _merge_by_name(old, base_origins, value, child_origins, here)
            continue
        if isinstance(value, dict) and isinstance(old, dict) and value.get("type", old.get("type")) == old.get("type"):
            base_origins[here] = child_origins[here]
            _merge(base[key], base_origins, value, child_origins, here)
            continue
        base[key] = value
        for p in [p for p in base_origins if p[: len(here)] == here]:
            del base_origins[p]
        base_origins.update({p: o for p, o in child_origins.items() if p[: len(here)] == here})


def _named_index(items: list[Any], name: str) -> int | None:
    """The position of the entry called ``name`` in a list of named entries (``featured``), if any."""
    return next((i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name") == name), None)


def _all_named(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "name" in v for v in value)


def _merge_by_name(
    base: list[dict[str, Any]], base_origins: Origins, child: dict[str, Any], child_origins: Origins, at: Path_
) -> None:
    """``featured: {my_channel: {hook: 0.7}}`` over a list of named entries: change the entry by that name.

    Raises:
        ScenarioError: no entry has that name.
    """
    for name, changes in child.items():
        index = _named_index(base, str(name))
        if index is None or not isinstance(changes, dict):
            origin = child_origins.get((*at, name), ("", 0, 0))
            names = ", ".join(str(item["name"]) for item in base)
            raise ScenarioError([Problem(*origin, ".".join(map(str, (*at, name))),
                                         f"expected one of the names {names} with a mapping of changes")])  # fmt: skip
        named = {k: v for k, v in child_origins.items() if k[: len(at) + 1] == (*at, name)}
        moved = {(*at, index, *k[len(at) + 1 :]): v for k, v in named.items()}
        _merge(base[index], base_origins, changes, moved, (*at, index))


def _apply_override(data: dict[str, Any], origins: Origins, item: str, where: Origin) -> Path_:
    """Apply one ``dotted.path=value`` override, written at ``where``, in place; return the path it set."""
    key, sep, raw = item.partition("=")
    steps = [s for s in key.strip().split(".")]
    if not sep or not all(steps):
        raise ScenarioError([Problem(*where, key.strip(), f"expected path.to.key=value, found {item!r}")])
    try:
        value = override_value(raw)
    except HostileYAML as exc:
        raise ScenarioError([Problem(*where, key, exc.message)]) from None
    except (YAMLError, RecursionError):
        raise ScenarioError([Problem(*where, key, f"expected a YAML value, found {_short(raw)}")]) from None
    node: Any = data
    path: Path_ = ()
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(node, list):
            named = _named_index(node, step)
            if named is None and (not step.isdecimal() or int(step) >= len(node)):
                names = [str(item["name"]) for item in node if isinstance(item, dict) and "name" in item]
                also = f" or one of the names {', '.join(names)}" if names else ""
                raise ScenarioError([Problem(*where, key, f"expected a list index below {len(node)}{also}, "
                                                          f"found {step!r}")])  # fmt: skip
            index: str | int = named if named is not None else int(step)
        elif isinstance(node, dict):
            index = step
        else:
            prefix = ".".join(steps[:i])
            raise ScenarioError([Problem(*where, key, f"{prefix} is a value, not a mapping or list")])
        path = (*path, index)
        if last:
            node[index] = value
        else:
            if isinstance(node, dict) and index not in node:
                node[index] = {}
            node = node[index]
    for p in [p for p in origins if p[: len(path)] == path]:
        del origins[p]
    origins[path] = where
    return path


def _problem(
    err: Any,
    data: Any,
    origins: Origins,
    root: str,
    model: type[BaseModel] = Scenario,
    prefix: Path_ = (),
    overridden: Sequence[Path_] = (),
) -> Problem:
    """Turn one pydantic error from ``model``, validating the data at ``prefix``, into a positioned problem.

    An error about a key that an override set, or about a mapping holding one, names the
    override (``--set``, or the sweep value), not the file the rest came from.
    """
    key = (err["ctx"]["key"],) if err["type"] == BOOLEAN_FOR_NUMBER else ()  # raised by the model, about one key
    loc = _data_path((*prefix, *err["loc"], *key), data)
    inside = [p for p in overridden if loc and p[: len(loc)] == loc and p in origins]
    source, line, col = origins[inside[-1]] if inside else _nearest_origin(loc, origins, root)
    path = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1], model)
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        message = f"unknown key {str(err['loc'][-1])!r}"
        message += f"; did you mean {hint[0]!r}?" if hint else f"; expected one of {', '.join(sorted(allowed))}"
    elif kind == "missing":
        message = "expected this key, found it missing"
    elif kind == "union_tag_invalid":  # e.g. a gate's type
        path += f".{err['ctx']['discriminator'].strip(chr(39))}"
        message = f"expected one of {err['ctx']['expected_tags']}, found {err['ctx']['tag']!r}"
    else:
        message = err["msg"].removeprefix("Value error, ").replace("Input should be", "expected")
        if kind not in ("value_error", BOOLEAN_FOR_NUMBER) and not isinstance(err.get("input"), dict | list):
            message += f", found {err.get('input')!r}"
    return Problem(source, line, col, path, message)


def _data_path(loc: Iterable[str | int], data: Any) -> Path_:
    """Keep the parts of a pydantic location that exist in the data (drop union tags)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if (isinstance(node, dict) and part in node) or in_list:
            node = node[part]
        elif isinstance(node, dict | list):
            if isinstance(node, dict) and isinstance(part, str) and part not in _UNION_TAGS:
                out.append(part)  # a missing or unknown key: name it
            continue
        else:
            break
        out.append(part)
    return tuple(out)


_UNION_TAGS = {"absolute", "score", "percentile", "lognormal", "quantiles", "values", "range"}


def _nearest_origin(loc: Path_, origins: Origins, root: str) -> tuple[str, int, int]:
    for n in range(len(loc), -1, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return (root, 1, 1)


def _allowed_keys(loc: Sequence[str | int], model: type[BaseModel]) -> list[str]:
    """Field names of the model found at ``loc`` inside ``model``."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp, part)
        if tp is None:
            return []
    tp = _unwrap(tp, None)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp: Any, part: str | int | None) -> Any:
    """Step one location part into a type annotation."""
    while True:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            tp = args[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            tagged = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            match = [m for m in tagged if "type" in m.model_fields and m.model_fields["type"].default == part]
            if match:
                return match[0]
            tp = members[0]
        elif origin in (list, tuple) and isinstance(part, int):
            return args[0]
        elif origin is dict and part is not None:
            return args[1]
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            if part is None:
                return tp
            field = tp.model_fields.get(str(part))
            return field.annotation if field else None
        else:
            return tp if part is None else None
