"""The command line: a thin click layer over the library (only this module and report print)."""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tiktok_sim import __version__
from tiktok_sim.check import check_results
from tiktok_sim.errors import ScenarioError, TasksFailed
from tiktok_sim.experiments import (
    EXECUTORS,
    compare,
    grid,
    in_words,
    latin_hypercube,
    parse_vary,
    reach_bands,
    replicate,
    sweep,
)
from tiktok_sim.output import finite, summary_json, versions, write_outputs
from tiktok_sim.report import render_report
from tiktok_sim.report.replications import reach_band_charts, replications_table, sweep_table
from tiktok_sim.resources import available_memory, estimate, format_bytes, parse_size
from tiktok_sim.scenario import Scenario, load_scenario, scenario_sha256
from tiktok_sim.scenario.loader import load_sweep
from tiktok_sim.scenario.reference import defaults_yaml, dump_yaml
from tiktok_sim.scenario.sweep import Origin, SweepPlan
from tiktok_sim.shards import ShardStore
from tiktok_sim.simulate import draw_seed, simulate

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
REPORT_WIDTH = 120

err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # errors quote input as written


def scenario_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The scenario file argument and repeatable ``--set`` overrides, shared by every command."""

    @click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "--set", "overrides", multiple=True, metavar="KEY=VALUE",
        help="Override a scenario value, e.g. --set users.count=5000 (repeatable; wins over the file).",
    )  # fmt: skip
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(*args, **kwargs)

    return wrapper


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--executor, --workers and --scheduler, shared by every command that runs many tasks."""
    options = (
        click.option("--executor", type=click.Choice(EXECUTORS), default="process", show_default=True,
                     help="Where tasks run: serial, local processes, or Dask."),
        click.option("--workers", type=click.IntRange(min=1), help="Processes or Dask workers (default: CPU count)."),
        click.option("--scheduler", metavar="ADDRESS", help="An existing Dask scheduler, for --executor dask."),
    )  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def _experiment(store: ShardStore | None) -> Iterator[None]:
    """Run an experiment's tasks: Ctrl-C or SIGTERM says what was kept (exit 130); all tasks failing, why (exit 1)."""
    try:
        yield
    except KeyboardInterrupt:
        kept = "finished tasks are kept as shards (rerun with --resume)" if store else "no results were written"
        err_console.print(f"interrupted: {kept}")
        sys.exit(EXIT_INTERRUPTED)
    except TasksFailed as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(EXIT_RUNTIME)


def _load(path: Path, overrides: tuple[str, ...]) -> Scenario:
    """Load a scenario or print each problem on one line and exit 2."""
    return _or_exit(lambda: load_scenario(path, overrides))


def _or_exit(load: Callable[[], Any]) -> Any:
    """``load()``, or each of its scenario problems on one line and exit 2."""
    try:
        return load()
    except ScenarioError as exc:
        for problem in exc.problems:
            err_console.print(str(problem), markup=False)
        sys.exit(EXIT_USAGE)


def _check_memory(scenario_file: Path, need: float, max_memory: str | None) -> None:
    """Refuse, with the estimate, a run larger than the limit."""
    try:
        limit = parse_size(max_memory) if max_memory is not None else available_memory()
    except ValueError as exc:
        err_console.print(f"--max-memory: {exc}", markup=False)
        sys.exit(EXIT_USAGE)
    if need > limit:
        source = "--max-memory" if max_memory is not None else "available memory"
        err_console.print(
            f"{scenario_file}: the run needs about {format_bytes(need)}, more than the {format_bytes(limit)} of "
            f"{source}; lower users.count or run.duration, or raise --max-memory",
            markup=False,
        )
        sys.exit(EXIT_USAGE)


def _console() -> Console:
    """Standard output: the terminal's width, or REPORT_WIDTH when piped."""
    return Console() if Console().is_terminal else Console(width=REPORT_WIDTH)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a run the way Ctrl-C does."""
    raise KeyboardInterrupt


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tiktok-sim")
def main() -> None:
    """Simulate how short videos climb, or stall on, a recommender's ladder of audience pools."""
    signal.signal(signal.SIGTERM, _interrupt)


@main.command()
@scenario_options
@click.option(
    "--seed", type=click.IntRange(min=0), help="Root seed (default: the scenario's, else drawn and recorded)."
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Write results here.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout instead of the report.")
@click.option("--quiet", is_flag=True, help="No progress bar and no report (exit code and --out only).")
@click.option("--dry-run", is_flag=True, help="Print the estimated memory and time, then stop.")
@click.option(
    "--reps", type=click.IntRange(min=1), default=1, show_default=True, help="Replications (mean, sd, 95% CI)."
)
@click.option(
    "--max-memory", metavar="SIZE", help="Refuse runs estimated above SIZE (e.g. 2GB); default: available memory."
)
@executor_options
@click.option("--resume", is_flag=True, help="With --reps and --out: keep finished shards in --out, run the rest.")
def run(
    scenario_file: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    out_dir: Path | None,
    as_json: bool,
    quiet: bool,
    dry_run: bool,
    max_memory: str | None,
    reps: int,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
) -> None:
    """Run a scenario and report how its videos climbed the ladder."""
    scenario = _load(scenario_file, overrides)
    need = estimate(scenario)
    if dry_run:
        click.echo(f"{scenario_file}: {need.describe()} (available: {format_bytes(available_memory())})")
        return
    _check_memory(scenario_file, need.memory_bytes, max_memory)
    if reps > 1:
        _run_replications(
            scenario, reps, seed, executor, workers, as_json, quiet, out_dir, resume, scheduler, overrides
        )
        return
    show_progress = not quiet and err_console.is_terminal
    try:
        with _progress(show_progress) as on_tick:
            result = simulate(scenario, seed=seed, progress=on_tick)
        if out_dir is not None:
            write_outputs(result, out_dir, argv=sys.argv)
    except KeyboardInterrupt:
        err_console.print("interrupted: no results were written (earlier results, if any, are untouched)")
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:
        err_console.print(f"{out_dir}: cannot write results: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)
    if as_json:
        click.echo(summary_json(result), nl=False)
    elif not quiet:
        console = _console()
        console.print(render_report(result, width=min(console.width, REPORT_WIDTH)))
        if out_dir is not None:
            console.print(f"Results written to {out_dir}/", highlight=False)


def _experiment_store(
    out_dir: Path | None, resume: bool, seed: int | None, base: Scenario, overrides: tuple[str, ...]
) -> tuple[ShardStore | None, int]:
    """The shard store (if any) and the root seed: given, recorded by the run being resumed, or drawn."""
    if resume and out_dir is None:
        raise click.UsageError("--resume needs --out DIR (the directory holding the shards)")
    recorded = out_dir / "manifest.json" if out_dir is not None else None
    if resume and seed is None and recorded is not None and recorded.is_file():
        seed = json.loads(recorded.read_text()).get("root_seed")
    root = seed if seed is not None else base.seed if base.seed is not None else draw_seed()
    if out_dir is None:
        return None, root
    store = ShardStore(out_dir)
    manifest = {
        "root_seed": root,
        "scenario": base.model_dump(mode="json"),
        "scenario_sha256": scenario_sha256(base),
        "overrides": list(overrides),
        "argv": sys.argv,
        **versions(),
    }
    store.write_json("manifest.json", manifest)
    return store, root


def _run_replications(
    scenario: Scenario,
    reps: int,
    seed: int | None,
    executor: str,
    workers: int | None,
    as_json: bool,
    quiet: bool,
    out_dir: Path | None = None,
    resume: bool = False,
    scheduler: str | None = None,
    overrides: tuple[str, ...] = (),
) -> None:
    """Run replications and print their summary table (or JSON); shards go to ``out_dir``."""
    store, root = _experiment_store(out_dir, resume, seed, scenario, overrides)
    with _experiment(store), _progress(not quiet and err_console.is_terminal) as on_tick:
        done = [0]

        def tick() -> None:
            done[0] += 1
            if on_tick is not None:
                on_tick(done[0], reps)

        replications = replicate(scenario, reps, root, executor, workers, tick, store, scheduler)
    rows = replications.summary()
    if store is not None:
        store.write_json("summary.json", {"root_seed": root, "reps": reps, "summary": rows})
        store.write_tables([{"point": 0, **row} for row in rows])
    if as_json:
        click.echo(
            json.dumps(
                finite({"root_seed": root, "reps": reps, "seeds": replications.seeds, "summary": rows}), indent=2
            )
        )
    elif not quiet:
        console = _console()
        console.print(replications_table(scenario.name, root, reps, rows))
        for chart in reach_band_charts(reach_bands(replications), width=min(console.width, REPORT_WIDTH)):
            console.print(chart)


SWEEP_METRICS = (
    "views_per_video_mean", "views_gini", "pass_rate_stage_0",
    "viewers_exploration_share", "viewers_entropy_end", "viewers_top3_share_end",
)  # fmt: skip
"""Tabulated for every sweep, followed by each featured creator's median views."""
DEFAULT_SWEEP_REPS = 3
VARY_ORIGIN: Origin = ("--vary", 0, 0)


@main.command(name="sweep")
@scenario_options
@click.option("--vary", multiple=True, metavar="KEY=V1,V2", help="A swept key and its values (repeatable: a grid).")
@click.option("--sample", type=click.IntRange(min=1), help="Latin-hypercube points over --vary key=lo:hi ranges.")
@click.option("--reps", type=click.IntRange(min=1), help="Replications per point  [default: the file's, else 3]")
@click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: the scenario's, else drawn).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Write shards and tables here."
)
@executor_options
@click.option("--resume", is_flag=True, help="Keep finished shards in --out and run the rest.")
def sweep_command(
    scenario_file: Path,
    overrides: tuple[str, ...],
    vary: tuple[str, ...],
    sample: int | None,
    reps: int | None,
    seed: int | None,
    executor: str,
    workers: int | None,
    as_json: bool,
    out_dir: Path | None,
    scheduler: str | None,
    resume: bool,
) -> None:
    """Run scenario variants, each replicated, and tabulate key metrics with 95% CIs.

    The variants come from --vary options, or else from the file's sweep: block.
    """
    base = _load(scenario_file, overrides)
    try:
        plan = _sweep_plan(scenario_file, vary, sample, reps)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    store, root = _experiment_store(out_dir, resume, seed, base, overrides)
    points = _sweep_points(scenario_file, overrides, plan, root)
    reps = plan.reps or DEFAULT_SWEEP_REPS
    with _experiment(store):
        results = sweep(points, reps, root, executor, workers, store=store, scheduler=scheduler)
    table = [
        {**params, **{f"{row['metric']}_{k}": row[k] for row in reps_.summary() for k in ("mean", "ci_lo", "ci_hi")}}
        for params, reps_ in results
    ]
    if store is not None:
        store.write_json("summary.json", {"root_seed": root, "reps": reps, "points": table})
        store.write_tables(
            [{"point": i, **params, **row} for i, (params, r) in enumerate(results) for row in r.summary()]
        )
    if as_json:
        click.echo(json.dumps(finite({"root_seed": root, "reps": reps, "points": table}), indent=2))
    else:
        metrics = (*SWEEP_METRICS, *(f"median_views_{f.name}" for f in base.featured))
        _console().print(sweep_table(base.name, root, reps, [k for k, _ in plan.axes], table, metrics))


def _sweep_plan(scenario_file: Path, vary: tuple[str, ...], sample: int | None, reps: int | None) -> SweepPlan:
    """--vary options if given, else the file's sweep: block; --sample and --reps win over the block.

    Raises:
        ValueError: for no sweep at all, or malformed --vary options.
    """
    block: SweepPlan | None = _or_exit(lambda: load_sweep(scenario_file))
    if vary:  # the command line replaces the block's axes; its reps still apply
        return SweepPlan(parse_vary(vary), {}, sample, reps or (block.reps if block else None))
    if block is None:
        raise ValueError(f"expected --vary KEY=V1,V2 or a sweep: block in {scenario_file}, found neither")
    return replace(block, sample=sample if sample is not None else block.sample, reps=reps or block.reps)


def _sweep_points(
    scenario_file: Path, overrides: tuple[str, ...], plan: SweepPlan, root: int
) -> list[tuple[dict[str, str], Scenario]]:
    """Every point of the sweep, validated before anything runs (a bad value costs no simulation time)."""
    try:
        chosen = grid(plan.axes) if plan.sample is None else latin_hypercube(plan.axes, plan.sample, root)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    points, problems = [], []
    for point in chosen:
        placed = [(f"{k}={v}", plan.origins.get(k, VARY_ORIGIN)) for k, v in point.items()]
        try:
            points.append((point, load_scenario(scenario_file, overrides, placed)))
        except ScenarioError as exc:
            problems += [str(p) for p in exc.problems]
    for problem in dict.fromkeys(problems):  # every bad value once, not once per point it is in
        err_console.print(problem, markup=False)
    if problems:
        sys.exit(EXIT_USAGE)
    return points


@main.command(name="compare")
@click.argument("file_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("file_b", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value in both scenarios.")
@click.option("--reps", type=click.IntRange(min=2), default=5, show_default=True, help="Paired replications.")
@click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: drawn and recorded).")
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(
    file_a: Path,
    file_b: Path,
    overrides: tuple[str, ...],
    reps: int,
    seed: int | None,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Compare B against A on key metrics: paired replications, differences with 95% CIs, in words."""
    a, b = _load(file_a, overrides), _load(file_b, overrides)
    root = seed if seed is not None else draw_seed()
    with _experiment(None):
        rows = compare(a, b, reps, root, executor, workers, scheduler)
    if as_json:
        click.echo(json.dumps(finite({"root_seed": root, "reps": reps, "comparison": rows}), indent=2))
        return
    click.echo(f"A = {file_a}, B = {file_b}; {reps} paired replications, root seed {root}")
    for row in rows:
        click.echo(in_words(row))


@main.command()
@scenario_options
def validate(scenario_file: Path, overrides: tuple[str, ...]) -> None:
    """Check a scenario and its sweep: block; print each problem as FILE:LINE:COL: key.path: message (exit 2)."""
    scenario = _load(scenario_file, overrides)
    plan: SweepPlan | None = _or_exit(lambda: load_sweep(scenario_file))
    swept = f", a sweep of {len(_sweep_points(scenario_file, overrides, plan, root=0))} points" if plan else ""
    click.echo(f"{scenario_file}: ok ({scenario.users.count:,} users, {scenario.creators.count:,} creators, "
               f"{len(scenario.ladder)} pools{swept})")  # fmt: skip


@main.command()
@scenario_options
def show(scenario_file: Path, overrides: tuple[str, ...]) -> None:
    """Print the resolved scenario (after extends: and --set) as YAML."""
    click.echo(dump_yaml(_load(scenario_file, overrides)), nl=False)


@main.command()
def defaults() -> None:
    """Print every scenario key with its default and a comment (scenarios/defaults.yaml)."""
    click.echo(defaults_yaml(), nl=False)


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
def check(results_dir: Path) -> None:
    """Re-verify a results directory: hashes, conserved views, funnel, gates (exit 1 on a mismatch)."""
    problems = check_results(results_dir)
    for problem in problems:
        err_console.print(problem, markup=False)
    if problems:
        sys.exit(EXIT_RUNTIME)
    click.echo(f"{results_dir}: ok")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[float, float], None] | None]:
    """A progress bar on stderr over simulated time, or nothing."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[day]}"), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("run", total=1.0, day="")

        def update(done: float, total: float) -> None:
            bar.update(task, completed=done / total, day=f"day {done / 1440:.1f} of {total / 1440:.1f}")

        yield update
