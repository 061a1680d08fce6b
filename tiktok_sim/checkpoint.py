"""Save a run's whole state at a day boundary, atomically, and pick it up again.

A checkpoint is one file, ``checkpoint.pkl``, in the folder given to ``run --checkpoint``.
It is written beside itself and renamed into place, so a run killed while saving leaves the
previous day's checkpoint whole. It holds the scenario's hash, the seed and a hash of the
code, so a folder from another run, or from another version of the simulator, is never
resumed by mistake. It is a pickle: load only checkpoints you wrote.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiktok_sim.engine import Engine
    from tiktok_sim.scenario.schema import Scenario

FILE = "checkpoint.pkl"


def save(engine: Engine, folder: Path) -> None:
    """Write ``engine``'s state to ``folder``/checkpoint.pkl, replacing the previous one atomically.

    Raises:
        Unwritable: the disk refused it (full, or the folder changed under the run).
    """
    partial = folder / f".{FILE}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as out:
            header = {**_identity(engine.scenario, engine.seed), "minute": engine.env.now}
            pickle.dump(header, out, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(engine, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, folder / FILE)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise Unwritable.of(folder, exc) from None


class OtherRun(ValueError):
    """The folder's checkpoint cannot be resumed by this run: another run's, another version's, or unreadable."""


class Unwritable(Exception):
    """The checkpoint folder cannot be written; the message is one line."""

    @classmethod
    def of(cls, folder: Path, error: OSError) -> Unwritable:
        """The one line for ``error``, raised writing in ``folder``."""
        return cls(f"--checkpoint {folder}: cannot write: {error.strerror or error}")


def header(folder: Path) -> dict[str, Any] | None:
    """The scenario hash, seed and simulated minute of the checkpoint in ``folder``, if any.

    Raises:
        OtherRun: there is something at the checkpoint's path that is not a checkpoint.
    """
    path = folder / FILE
    if not path.exists():
        return None
    unreadable = f"{path}: expected a checkpoint, found {{}}; delete it or use an empty folder"
    if not path.is_file():
        raise OtherRun(unreadable.format("something that is not a file"))
    try:
        with path.open("rb") as saved:
            found = pickle.load(saved)
    except Exception:  # a truncated or foreign file can fail to unpickle in many ways
        raise OtherRun(unreadable.format("a file that cannot be read as one")) from None
    if not isinstance(found, dict) or not {"scenario_sha256", "seed", "code"} <= found.keys():
        raise OtherRun(unreadable.format("another kind of pickle"))
    return found


def check_writable(folder: Path) -> None:
    """Make sure a checkpoint can be saved in ``folder`` before the run starts.

    Raises:
        Unwritable: the folder cannot be made, or a file cannot be written in it.
    """
    probe = folder / f".{FILE}.partial"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise Unwritable.of(folder, exc) from None


def run_seed(seed: int | None, scenario: Scenario, folder: Path | None) -> int | None:
    """The seed a run uses: the given one, the scenario's, else that of ``folder``'s checkpoint (None: draw one).

    A run whose seed was drawn resumes with the seed its checkpoint recorded.
    """
    if seed is not None or scenario.seed is not None:
        return seed if seed is not None else scenario.seed
    found = header(folder) if folder is not None else None
    return None if found is None else int(found["seed"])


def matching_header(folder: Path, scenario: Scenario, seed: int) -> dict[str, Any] | None:
    """The header of ``folder``'s checkpoint, if there is one; it must be of this scenario and seed.

    Raises:
        OtherRun: the folder's checkpoint is of another scenario or seed, or was written by
            other code.
    """
    found = header(folder)
    if found is None:
        return None
    expected = _identity(scenario, seed)
    if (found.get("scenario_sha256"), found.get("seed")) != (expected["scenario_sha256"], seed):
        raise OtherRun(
            f"{folder / FILE}: expected a checkpoint of this scenario and seed {seed}, found one of another run "
            f"(seed {found.get('seed')}); use an empty folder"
        )
    if found.get("code") != expected["code"]:
        raise OtherRun(
            f"{folder / FILE}: expected a checkpoint written by this version of tiktok-sim, found one written by "
            "another; resume it with the version that wrote it, or use an empty folder"
        )
    return found


def load(folder: Path, scenario: Scenario, seed: int) -> Engine | None:
    """The engine saved in ``folder`` for this scenario and seed, or None if there is none.

    Raises:
        OtherRun: the folder's checkpoint is of another scenario or seed.
    """
    if matching_header(folder, scenario, seed) is None:
        return None
    with (folder / FILE).open("rb") as saved:
        pickle.load(saved)  # the header
        engine: Engine = pickle.load(saved)
    return engine


def clear(folder: Path) -> None:
    """Remove the checkpoint once its run has finished."""
    (folder / FILE).unlink(missing_ok=True)


def _identity(scenario: Scenario, seed: int) -> dict[str, Any]:
    # Not at import: the command line loads this module.
    from tiktok_sim.compiled import sources_hash
    from tiktok_sim.scenario.loader import scenario_sha256

    return {"scenario_sha256": scenario_sha256(scenario), "seed": seed, "code": sources_hash()}
