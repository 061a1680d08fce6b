"""The manifest's file list: every file present is listed, every listed file is present and hashes right."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tiktok_sim.check.read import Malformed
from tiktok_sim.output import file_sha256

MANIFEST = "manifest.json"


def listed(files: dict[str, str] | None) -> dict[str, str]:
    """The manifest's file list, which must name at least one file, each a plain path inside the directory.

    Raises:
        Malformed: no list, an empty one, or a name that leaves the directory.
    """
    if not files:
        raise Malformed(f"{MANIFEST}: lists no files (unfinished results, or an edited manifest)")
    for name in files:
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name or name != "/".join(parts):
            raise Malformed(f"{MANIFEST}: files: {name!r} is not a path inside the directory")
    return {name: digest for name, digest in files.items() if name != MANIFEST}


def file_problems(root: Path, files: dict[str, str], ours: Callable[[str], bool]) -> list[str]:
    """Files present but not listed, listed but missing, or whose SHA-256 differs from the manifest's.

    Every file, listed or not, must also be one that results of this kind hold (``ours``).
    """
    present, problems = _present(root)
    problems += [f"{name}: not a file these results hold" for name in sorted(present | set(files)) if not ours(name)]
    problems += [f"{name}: not listed in {MANIFEST}" for name in sorted(present - set(files))]
    for name, digest in sorted(files.items()):
        if name not in present:
            problems.append(f"{name}: listed in {MANIFEST} but missing")
        elif file_sha256(root / name) != digest:
            problems.append(f"{name}: SHA-256 differs from {MANIFEST}")
    return problems


def _present(root: Path) -> tuple[set[str], list[str]]:
    """Every regular file under ``root`` (but the manifest), and what else is there that should not be."""
    files: set[str] = set()
    problems = []
    for folder, dirs, names in os.walk(root):  # symbolic links to folders are not followed
        here = Path(folder).relative_to(root)
        if here != Path(".") and not dirs and not names:
            problems.append(f"{here.as_posix()}/: an empty folder not listed in {MANIFEST}")
        for name in [*names, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
            path, rel = Path(folder) / name, (here / name).as_posix()
            if path.is_symlink() or not path.is_file():
                problems.append(f"{rel}: not a regular file")
            elif rel != MANIFEST:
                files.add(rel)
    return files, problems
