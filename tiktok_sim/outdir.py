"""An output directory belongs to one run or experiment: who owns it, and replacing it whole.

A directory is free when it does not exist or is empty. One that holds results is refused
unless the caller resumes the same experiment or forces a replacement. A replacement is
written into a temporary sibling and swapped in with SIGINT and SIGTERM held back, so the
directory holds the old set or the new one, never a mix of the two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

RUN_FILES = (
    "summary.json",
    "videos.csv",
    "creators.csv",
    "reach.csv",
    "stages.csv",
    "gates.csv",
    "audience.csv",
    "manifest.json",
)
EXPERIMENT_TABLES = ("runs", "summary", "videos", "funnel", "creators")
EXPERIMENT_FILES = (
    "manifest.json",
    "summary.json",
    *(f"{t}.{x}" for t in EXPERIMENT_TABLES for x in ("csv", "parquet")),
)
SHARD_NAME = re.compile(r"point\d{5}-rep\d{5}(\.(videos|funnel|creators)\.csv|\.json)")
TEMP_NAME = re.compile(r"\..+\.\d+\.tmp")
"""A file being written (see :func:`tiktok_sim.output.temp_beside`), left behind if a process was killed."""
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a command (exit 130), and that are held back while a set is put in place."""


class HeldInterrupt(KeyboardInterrupt):
    """An interrupt held back until a set was in place: the results it was writing are complete."""


class OutputRefused(ValueError):
    """The output directory holds something this command must not mix with or delete (a usage error)."""


class Mode(Enum):
    """How a command writes into its output directory."""

    FRESH = "fresh"  # absent or empty: write in place
    RESUME = "resume"  # the same experiment's results: continue in place
    REPLACE = "replace"  # another set, replaced whole (--force): write beside, then swap


def claim(out: Path, identity: dict[str, Any] | None, resume: bool, force: bool) -> Mode:
    """How ``out`` may be written by a run (``identity`` None) or an experiment of ``identity``.

    Raises:
        OutputRefused: ``out`` holds results and neither ``resume`` (of the same experiment)
            nor ``force`` allows writing there, it holds files this tool did not write, or it
            is inside another results directory.
    """
    holder = results_holding(out.resolve().parent)
    if holder is not None:  # its own check would then find files it did not write
        raise OutputRefused(f"{out}: is inside the results in {holder}; choose a folder outside them")
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return Mode.FRESH
    manifest, foreign = read_manifest(out), foreign_files(out)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputRefused(f"{out}: is not a results directory (it holds {shown}); choose a new or empty one")
    if manifest is None:
        if force:
            return Mode.REPLACE
        raise OutputRefused(f"{out}: holds results without a readable manifest.json; use --force to replace them")
    if resume and identity is not None:
        if same_experiment(manifest, identity):
            return Mode.RESUME
        keys = [key for key in IDENTITY if manifest.get(key) != identity.get(key)]
        keys = [key for key in keys if key != "points" or "scenario_sha256" not in keys]  # points hold the scenario
        differ = " and ".join(_IDENTITY_NAMES[key] for key in keys)
        raise OutputRefused(f"{out}: cannot resume: it holds the results of {describe(manifest)}, not of this one "
                            f"({_details(identity)}; the {differ} differ); use --force to replace them")  # fmt: skip
    if force:
        return Mode.REPLACE
    resumable = identity is not None and "root_seed" in manifest
    hint = "use --resume to continue it or --force to replace it" if resumable else "use --force to replace it"
    raise OutputRefused(f"{out}: holds the results of {describe(manifest)}; {hint}")


def results_holding(path: Path) -> Path | None:
    """The results directory that is ``path`` or holds it (the nearest with a manifest.json), if any."""
    return next((p for p in (path, *path.parents) if (p / "manifest.json").is_file()), None)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """``directory``'s manifest.json as a JSON object, or None if it is missing or unreadable."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def describe(manifest: dict[str, Any]) -> str:
    """Whose results a manifest records, in words: "a run (seed 5, scenario 1a2b...)"."""
    return f"an experiment ({_details(manifest)})" if "root_seed" in manifest else f"a run ({_details(manifest)})"


def _details(manifest: dict[str, Any]) -> str:
    """Seed and scenario hash, and an experiment's size."""
    digest = str(manifest.get("scenario_sha256", "?"))[:12]
    if "root_seed" not in manifest:
        return f"seed {manifest.get('seed')}, scenario {digest}"
    points = manifest.get("points")
    size = f", {len(points)} points" if isinstance(points, list) and len(points) > 1 else ""
    return f"root seed {manifest.get('root_seed')}, scenario {digest}, {manifest.get('reps')} reps{size}"


IDENTITY = ("root_seed", "scenario_sha256", "reps", "points")
"""What makes two experiments the same: resuming one with another would mix their tasks."""
_IDENTITY_NAMES = {"root_seed": "root seeds", "scenario_sha256": "scenarios", "reps": "replications",
                   "points": "points (the swept values)"}  # fmt: skip


def same_experiment(manifest: dict[str, Any], identity: dict[str, Any]) -> bool:
    """True if the manifest records the experiment ``identity`` describes."""
    return all(manifest.get(key) == identity.get(key) for key in IDENTITY)


def foreign_files(out: Path) -> list[str]:
    """Entries of ``out`` this tool does not write (--force must not delete them)."""
    result_names = {*RUN_FILES, *EXPERIMENT_FILES}
    foreign = []
    for entry in sorted(out.iterdir()):
        if entry.name == "shards" and entry.is_dir() and not entry.is_symlink():
            foreign += [f"shards/{p.name}" for p in sorted(entry.iterdir()) if not _ours(p, SHARD_NAME.fullmatch)]
        elif not _ours(entry, result_names.__contains__):
            foreign.append(entry.name)
    return foreign


def _ours(path: Path, named: Callable[[str], object]) -> bool:
    """A regular file under a name this tool writes, or one of its temporary files."""
    return _is_file(path) and bool(named(path.name) or TEMP_NAME.fullmatch(path.name))


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def sibling(out: Path, role: str) -> Path:
    """A hidden name beside ``out`` for a new set being written, or an old one being dropped."""
    return out.with_name(f".{out.name}.{os.getpid()}.{role}")


@contextmanager
def staged(out: Path, mode: Mode, whole: bool = False) -> Iterator[Path]:
    """The directory to write a set into; when the block succeeds, it is ``out``.

    A fresh or resumed experiment writes in place, so its finished shards survive an interrupt.
    A replacement, or a set written ``whole`` at the end (a single run), goes into a temporary
    sibling that is swapped in when the block succeeds; if it fails or is interrupted, the
    sibling is deleted and ``out`` is left as it was.
    """
    out = out.resolve()  # a symlinked directory is replaced at its target, not turned into a directory
    if mode is not Mode.REPLACE and not whole:
        out.mkdir(parents=True, exist_ok=True)
        yield out
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = sibling(out, "new")
    try:  # created inside, so an interrupt landing just after cannot leave it behind
        stage.mkdir()
        if out.is_dir():
            shutil.copymode(out, stage)
        try:
            yield stage
        except HeldInterrupt:
            raise KeyboardInterrupt from None  # what the block completed is in the stage, and dropped with it
        swap(stage, out, replace=mode is Mode.REPLACE)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def swap(stage: Path, out: Path, replace: bool) -> None:
    """Put the directory ``stage`` in the place of ``out``, signals held.

    ``out`` must be absent or empty, unless ``replace``: then an old set is renamed aside and
    deleted. Two renames, so a crash (not an interrupt: those wait) between them leaves ``out``
    absent and both sets beside it, never a mix.
    """
    with signals_held():
        if replace and out.is_dir() and any(out.iterdir()):
            old = sibling(out, "old")
            os.rename(out, old)
            try:
                os.rename(stage, out)
            except OSError:
                os.rename(old, out)
                raise
            shutil.rmtree(old)
        else:
            os.replace(stage, out)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends (from the main thread; elsewhere, no effect).

    A signal arriving meanwhile is recorded, whichever thread the kernel hands it to (the main
    thread runs every Python handler), and delivered once the block is over: as
    :class:`HeldInterrupt` if the block ran to its end, so the caller can tell its work was done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it receives their interrupts
        return
    pending: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: pending.append(signum)) for signum in INTERRUPTS}
    done = False
    try:
        yield
        done = True
    finally:
        _release(previous, pending, done)


def _release(previous: dict[signal.Signals, Any], pending: list[int], done: bool) -> None:
    """Put the handlers back and deliver the first held signal (a signal landing now counts as held too)."""
    try:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if pending:
            signal.raise_signal(pending[0])
    except KeyboardInterrupt:
        if done:
            raise HeldInterrupt from None
        raise
