"""Re-verify a results directory: every file is listed and hashes right, and every figure recomputes.

``check`` fails closed: a missing manifest, a manifest without its file list, a file it does
not list, or content it cannot read is a problem, reported in one line.
"""

from __future__ import annotations

from pathlib import Path

from tiktok_sim.check.experiment import experiment_problems, unfinished
from tiktok_sim.check.files import MANIFEST, file_problems, listed
from tiktok_sim.check.read import ExperimentManifest, Malformed, RunManifest, read_json, shaped
from tiktok_sim.check.run import RATE_COLUMNS, WATCH_MEASURES, run_problems
from tiktok_sim.outdir import EXPERIMENT_FILES, RUN_FILES, SHARD_NAME

__all__ = ["RATE_COLUMNS", "WATCH_MEASURES", "check_results"]


def check_results(directory: str | Path) -> list[str]:
    """Every problem found in ``directory``, one line each (empty when it is consistent).

    For one run see :func:`~tiktok_sim.check.run.run_problems`; for an experiment (``run
    --reps`` or ``sweep`` with ``--out``), :func:`~tiktok_sim.check.experiment.experiment_problems`.
    """
    root = Path(directory)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    problems: list[str] = []
    try:
        document = read_json(root / MANIFEST, MANIFEST)
        if not isinstance(document, dict):
            raise Malformed(f"{MANIFEST}: expected a JSON object, found {type(document).__name__}")
        if "root_seed" in document:
            experiment = shaped(ExperimentManifest, document, MANIFEST)
            if not experiment.files:
                return unfinished(root, experiment, document.get("argv"))
            problems += file_problems(root, listed(experiment.files), _experiment_file)
            problems += experiment_problems(root, experiment)
        else:
            run = shaped(RunManifest, document, MANIFEST)
            problems += file_problems(root, listed(run.files), RUN_FILES.__contains__)
            problems += run_problems(root, run)
    except Malformed as exc:
        problems.append(str(exc))
    except (ValueError, LookupError, TypeError, ArithmeticError) as exc:
        # Fail closed: content the readers did not foresee is still a problem, in one line.
        problems.append(f"{root}: cannot verify: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return problems


def _experiment_file(name: str) -> bool:
    """A name an experiment's directory may hold (which tasks' shards belong is checked later)."""
    folder, _, shard = name.rpartition("/")
    return bool(SHARD_NAME.fullmatch(shard)) if folder == "shards" else not folder and name in EXPERIMENT_FILES
