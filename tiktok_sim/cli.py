"""The command line: a thin click layer over the library (only this module and report print).

The library is imported inside the commands that use it: ``--help`` and ``--version`` must
not wait for numpy, scipy, numba or pyarrow (a test checks that importing this module does not
import them).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console

from tiktok_sim import __version__
from tiktok_sim.checkpoint import OtherRun, Unwritable, check_writable, matching_header, run_seed
from tiktok_sim.errors import Problem, ScenarioError, SchedulerUnreachable, TasksFailed, interrupts_unwrapped
from tiktok_sim.executors import EXECUTORS
from tiktok_sim.outdir import INTERRUPTS, HeldInterrupt, Mode, OutputRefused, claim, read_manifest, staged

if TYPE_CHECKING:
    from tiktok_sim.results import RunResult
    from tiktok_sim.scenario import Scenario
    from tiktok_sim.scenario.sweep import Origin, SweepPlan
    from tiktok_sim.shards import ShardStore

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
REPORT_WIDTH = 120
MIN_WIDTH, MAX_WIDTH = 40, 1000  # columns a report is rendered at
MAX_REPS = 10_000  # far past any useful confidence interval; a typo's 10**20 would run forever
_SCHEDULER = re.compile(r"^(?:[a-z]+://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})$")
"""A Dask scheduler's address: an optional protocol, a host or [IPv6] address, and a port."""

err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # errors quote input as written


class Folder(click.Path):
    """A folder option or argument; an empty one (an unset shell variable) would silently mean the current folder."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The path, unless it is empty."""
        if isinstance(value, str) and not value.strip():
            self.fail("expected a folder, found an empty path", param, ctx)
        return super().convert(value, param, ctx)


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

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        scheduler = kwargs["scheduler"]
        if scheduler is not None:
            if kwargs["executor"] != "dask":
                raise click.UsageError("--scheduler names a Dask scheduler: give --executor dask as well")
            port = _SCHEDULER.match(scheduler)
            if port is None or not 1 <= int(port.group(1)) <= 65535:
                raise click.BadParameter(
                    f"expected an address such as tcp://host:8786, found {scheduler!r}", param_hint="--scheduler"
                )
        return command(*args, **kwargs)

    for option in reversed(options):
        checked = option(checked)
    return checked


force_option = click.option(
    "--force", is_flag=True, help="Replace the results already in --out: the whole set, atomically."
)


def examples(*lines: str) -> str:
    """A command's epilog: its examples, one a line, printed as written at the end of --help."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _claim(out_dir: Path, identity: dict[str, Any] | None, resume: bool, force: bool) -> Mode:
    """How ``out_dir`` may be written; a directory holding other results is refused (exit 2)."""
    if resume and force:
        raise click.UsageError("--resume continues the results in --out and --force replaces them: choose one")
    try:
        return claim(out_dir, identity, resume, force)
    except OutputRefused as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        err_console.print(f"{out_dir}: cannot read: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


@contextmanager
def _experiment(
    out_dir: Path | None, mode: Mode | None, manifest: dict[str, Any], say_reused: bool = False
) -> Iterator[ShardStore | None]:
    """The shard store of an experiment writing to ``out_dir``, if any, while its tasks run.

    Ctrl-C or SIGTERM says what was kept (exit 130); all tasks failing, why (exit 1). A
    replacement (--force) that does not finish is discarded, leaving ``out_dir`` as it was.
    With ``say_reused`` (--resume), a line on stderr says how many tasks were not run again.
    """
    from tiktok_sim.shards import ShardStore

    try:
        if out_dir is None or mode is None:
            yield None
            return
        with staged(out_dir, mode) as directory:
            store = ShardStore(directory)
            store.start(manifest)
            yield store
        if say_reused:
            tasks = len(manifest["points"]) * manifest["reps"]
            err_console.print(f"resumed: {store.reused} of {tasks} tasks reused from {out_dir}", markup=False)
    except HeldInterrupt:
        _stopped(f"the results in {out_dir} are complete")
    except KeyboardInterrupt:
        _stopped(_kept(out_dir, mode))
    except (TasksFailed, SchedulerUnreachable) as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(EXIT_RUNTIME)
    except OSError as exc:
        err_console.print(f"{out_dir}: cannot write results: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


def _kept(out_dir: Path | None, mode: Mode | None) -> str:
    """What an interrupted experiment leaves behind."""
    if out_dir is None or mode is None:
        return "no results were written"
    if mode is Mode.REPLACE:
        return f"{out_dir} is unchanged (the replacement was discarded)"
    return "finished tasks are kept as shards (rerun with --resume)"


def _load(path: Path | None, overrides: tuple[str, ...], one_of_two: bool = False) -> Scenario:
    """Load a scenario (None: the defaults) or print each problem on one line and exit 2.

    With ``one_of_two`` (compare), an override's problem says which file it was applied to.
    """
    from tiktok_sim.scenario.loader import SET_ORIGIN, load_scenario

    try:
        return load_scenario(path, overrides)
    except ScenarioError as exc:
        problems = exc.problems
        if one_of_two:
            on = f"{SET_ORIGIN[0]} on {path}"
            problems = [replace(p, source=on) if p.source == SET_ORIGIN[0] else p for p in problems]
        _exit_with(problems)


def _note_ignored_sweep(path: Path | None, command: str) -> None:
    """Say that ``command`` runs the scenario itself, not the variants of the file's ``sweep:`` block."""
    from tiktok_sim.scenario.loader import sweep_origin

    where = sweep_origin(path) if path is not None else None
    if where is not None:
        source, line, _ = where
        err_console.print(
            f"note: {source}:{line}: {command} leaves the sweep: block out and runs the scenario as written; "
            f"`tiktok-sim sweep {path}` runs the block's variants",
            markup=False,
        )


def _or_exit(load: Callable[[], Any]) -> Any:
    """``load()``, or each of its scenario problems on one line and exit 2."""
    try:
        return load()
    except ScenarioError as exc:
        _exit_with(exc.problems)


def _exit_with(problems: list[Problem]) -> NoReturn:
    """Each scenario problem on one line, then exit 2."""
    for problem in problems:
        err_console.print(str(problem), markup=False)
    sys.exit(EXIT_USAGE)


def _check_memory(scenario_file: Path, need: float, max_memory: str | None) -> None:
    """Refuse, with the estimate, a run larger than the limit."""
    from tiktok_sim.resources import available_memory, format_bytes, parse_size

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


def _console(width: int | None = None) -> Console:
    """Standard output at ``width``, else COLUMNS, else the terminal's width, else REPORT_WIDTH when piped.

    COLUMNS counts only as a positive whole number: Rich would print nothing at all at 0. Like
    ``--width``, it is held within MIN_WIDTH to MAX_WIDTH: below, every word wraps; far above,
    Rich pads each line to the width (a billion columns ran out of memory).
    """
    if width is None:
        columns = os.environ.get("COLUMNS", "")
        if columns.isdecimal() and int(columns) > 0:
            width = int(columns)
        elif Console().is_terminal:
            width = shutil.get_terminal_size((REPORT_WIDTH, 24)).columns  # skips a COLUMNS of 0 or text
        else:
            width = REPORT_WIDTH
    return Console(width=min(max(width, MIN_WIDTH), MAX_WIDTH))


def _print_replications(
    name: str, root: int, reps: int, rows: list[dict[str, Any]], bands: dict[str, Any], width: int | None = None
) -> None:
    """The replications table, then each featured creator's reach band (``run --reps``, ``report``)."""
    from tiktok_sim.report.replications import reach_band_charts, replications_table

    console = _console(width)
    console.print(replications_table(name, root, reps, rows))
    for chart in reach_band_charts(bands, width=min(console.width, REPORT_WIDTH)):
        console.print(chart)


def _print_sweep(
    name: str, root: int, reps: int, keys: list[str], points: list[dict[str, Any]], featured: list[str],
    width: int | None = None,
) -> None:  # fmt: skip
    """Swept values against each metric's mean and 95% CI (``sweep``, ``report``)."""
    from tiktok_sim.experiments import sweep_metrics
    from tiktok_sim.report.replications import sweep_table
    from tiktok_sim.scenario.sweep import texts

    shown = [point | texts({k: point[k] for k in keys if k in point}) for point in points]  # typed or old text alike
    _console(width).print(sweep_table(name, root, reps, keys, shown, sweep_metrics(featured)))


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM stops the command; later ones are ignored, so stopping stays one line."""
    _ignore_interrupts()
    raise KeyboardInterrupt


def _deliver_again(unraisable: Any) -> None:
    """An interrupt raised inside a finalizer is swallowed there and printed with a traceback.

    That happens when it lands in llvmlite's ``__del__`` while the kernels load. Deliver it
    again, silently, a moment later (from inside this hook it would be swallowed again), so
    the command still stops in one line. Anything else is reported as Python would.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, _interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    sys.__unraisablehook__(unraisable)


def _ignore_interrupts() -> None:
    for signum in INTERRUPTS:
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def _interrupts_exit() -> Iterator[None]:
    """An interrupt no command turned into its own message: one line and exit 130 (not click's exit 1)."""
    try:
        with interrupts_unwrapped():
            yield
    except KeyboardInterrupt:
        _stopped(None)


def _stopped(what_is_left: str | None) -> NoReturn:
    """Say in one line that the command was interrupted (and what it leaves), and exit 130."""
    err_console.print(f"interrupted: {what_is_left}" if what_is_left else "interrupted", markup=False)
    # CPython 3.11 remembers an interrupt that landed in code built by exec() (dataclasses and
    # namedtuples are, so imports can be caught there) and, under `python -m`, turns exit 130
    # into death by SIGINT. Evaluating a string clears that memory.
    exec("pass")
    sys.exit(EXIT_INTERRUPTED)


class Commands(click.Group):
    """The command group, owning SIGINT and SIGTERM from the first line of ``main`` to the process's exit.

    Library modules are imported inside the commands, after the handlers are in place, so an
    interrupt during start-up, compilation, the run or the writing exits 130 with one line.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The process's entry point (console script, ``python -m``): ``main``, then signals are ignored.

        The work is done by then: a signal during the interpreter's exit could only print a traceback.
        """
        try:
            return self.main(*args, **kwargs)
        finally:
            _ignore_interrupts()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line with the interrupt handlers in place."""
        for signum in INTERRUPTS:
            signal.signal(signum, _interrupt)
        sys.unraisablehook = _deliver_again
        with _interrupts_exit():
            return super().main(*args, **kwargs)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        """Parse the arguments (printing --help or --version), interrupts exiting 130."""
        with _interrupts_exit(), _usage_on_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the chosen command, interrupts exiting 130."""
        with _interrupts_exit(), _usage_on_one_line(), _stdout_failures_on_one_line():
            _check_environment()
            return super().invoke(ctx)


_STREAM_ERRORS = {errno.ENOSPC, errno.EIO, errno.EPIPE, errno.EBADF, errno.EDQUOT}
"""What writing to a full, closed or failing standard output raises, without a file name."""


def _check_environment() -> None:
    """Refuse, in one line, a setting numba would reject with a traceback when it is imported."""
    threads = os.environ.get("NUMBA_NUM_THREADS")
    if threads is not None and not (threads.strip().isdecimal() and int(threads) >= 1):
        err_console.print(f"NUMBA_NUM_THREADS: expected a whole number of at least 1, found {threads!r}", markup=False)
        sys.exit(EXIT_USAGE)


@contextmanager
def _stdout_failures_on_one_line() -> Iterator[None]:
    """A standard output that cannot be written (a full disk, /dev/full) is one line, not a traceback."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno not in _STREAM_ERRORS:
            raise  # a file's failure: the commands say which file, where they write one
        # Nothing more reaches the broken stream, not even the interpreter's flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        err_console.print(f"cannot write to standard output: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


@contextmanager
def _usage_on_one_line() -> Iterator[None]:
    """A usage error as one line that says where to read more (click would print usage, a hint and the error)."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # no arguments at all: the help is the answer
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else "tiktok-sim"
        message = exc.format_message()
        if isinstance(exc, click.NoSuchOption) and _NEGATIVE.fullmatch(exc.option_name):
            message = f"{exc.option_name}: not an option, and no argument of this command takes a negative number"
        err_console.print(f"{path}: {message} (see {path} --help)", markup=False)
        sys.exit(exc.exit_code)


_NEGATIVE = re.compile(r"-\d+")
"""An argument click read as an unknown option but that is a negative number (``explain DIR -1``)."""


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples("tiktok-sim run scenarios/quickstart.yaml --out results/", "tiktok-sim report results/"),
)
@click.version_option(__version__, prog_name="tiktok-sim")
def main() -> None:
    """Simulate how short videos climb, or stall on, a recommender's ladder of audience pools."""


@main.command(
    epilog=examples(
        "tiktok-sim run scenarios/quickstart.yaml --seed 7 --out results/ --plot pictures/",
        "tiktok-sim run scenarios/quickstart.yaml --reps 5 --set featured.my_channel.hook=0.7",
    )
)
@scenario_options
@click.option(
    "--seed", type=click.IntRange(min=0), help="Root seed (default: the scenario's, else drawn and recorded)."
)
@click.option("--out", "out_dir", type=Folder(file_okay=False, path_type=Path), help="Write results here.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout instead of the report.")
@click.option("--quiet", is_flag=True, help="No progress bar and no report (exit code and --out only).")
@click.option("--dry-run", is_flag=True, help="Print the estimated memory and time (with --json, as JSON), then stop.")
@click.option(
    "--reps", type=click.IntRange(1, MAX_REPS), default=1, show_default=True, help="Replications (mean, sd, 95% CI)."
)
@click.option(
    "--max-memory", metavar="SIZE", help="Refuse runs estimated above SIZE (e.g. 2GB); default: available memory."
)
@executor_options
@click.option("--resume", is_flag=True, help="With --reps and --out: keep finished shards in --out, run the rest.")
@force_option
@click.option(
    "--plot", "plot_dir", type=Folder(file_okay=False, path_type=Path),
    help="Also draw the pictures (PNG and SVG) into this directory (with --reps, from --out's tables).",
)  # fmt: skip
@click.option(
    "--checkpoint", "checkpoint_dir", type=Folder(file_okay=False, path_type=Path),
    help="Save the run's state here at each simulated day's end; the same command resumes a killed run "
    "from it, with identical results.",
)  # fmt: skip
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
    force: bool,
    plot_dir: Path | None,
    checkpoint_dir: Path | None,
) -> None:
    """Run a scenario and report how its videos climbed the ladder."""
    from tiktok_sim.output import summary_json, write_outputs
    from tiktok_sim.report import render_report
    from tiktok_sim.resources import available_memory, estimate, format_bytes
    from tiktok_sim.single_run import simulate

    _needs_out(out_dir, resume, force)
    scenario = _load(scenario_file, overrides)
    if not quiet:
        _note_ignored_sweep(scenario_file, "run")
    need = estimate(scenario)
    if dry_run:
        if as_json:
            estimate_json = {"impressions": need.impressions, "videos": need.videos, "memory_bytes": need.memory_bytes,
                             "seconds": need.seconds, "available_memory_bytes": available_memory()}  # fmt: skip
            click.echo(json.dumps({k: round(v) for k, v in estimate_json.items()}, indent=2))
        else:
            click.echo(f"{scenario_file}: {need.describe()} (available: {format_bytes(available_memory())})")
        return
    _check_memory(scenario_file, need.memory_bytes, max_memory)
    if plot_dir is not None:
        _can_plot(plot_dir, out_dir, reps)
    if reps > 1 and checkpoint_dir is not None:
        raise click.UsageError("--checkpoint saves one run: with --reps, --out and --resume keep finished shards")
    if reps > 1:
        _run_replications(
            scenario, reps, seed, executor, workers, as_json, quiet, out_dir, resume, force, scheduler, overrides
        )
        if plot_dir is not None and out_dir is not None:
            _draw(out_dir, read_manifest(out_dir) or {}, plot_dir, "--plot")
            _said(f"Pictures written to {plot_dir}/", as_json or quiet)
        return
    if resume:
        raise click.UsageError("--resume continues an experiment: give --reps N (N >= 2), or use sweep")
    mode = _claim(out_dir, None, resume, force) if out_dir is not None else Mode.FRESH
    if checkpoint_dir is not None:
        _checkpoint_status(checkpoint_dir, scenario, seed, quiet)
    show_progress = not quiet and err_console.is_terminal
    try:
        with interrupts_unwrapped():
            with _progress(show_progress) as on_tick:
                result = simulate(scenario, seed=seed, progress=on_tick, checkpoint_to=checkpoint_dir)
            if out_dir is not None:
                write_outputs(result, out_dir, argv=sys.argv, mode=mode)
    except HeldInterrupt:
        _stopped(f"the results in {out_dir} are complete")
    except KeyboardInterrupt:
        _stopped("no results were written (earlier results, if any, are untouched)")
    except Unwritable as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(EXIT_RUNTIME)
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
    if plot_dir is not None:
        _draw_run(result, scenario_file, plot_dir)
        _said(f"Pictures written to {plot_dir}/", as_json or quiet)


def _can_plot(plot_dir: Path, out_dir: Path | None, reps: int) -> None:
    """Refuse --plot before the run if its pictures could not be drawn after it."""
    from tiktok_sim.report.pictures import check_destination

    if reps > 1 and out_dir is None:
        raise click.UsageError("--plot with --reps needs --out DIR (the pictures are drawn from its tables)")
    try:
        check_destination(out_dir, plot_dir)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--plot") from None
    cannot = _cannot_make(plot_dir)
    if cannot is not None:
        raise click.BadParameter(f"{plot_dir}: cannot make the folder: {cannot}", param_hint="--plot")
    _matplotlib()


def _cannot_make(folder: Path) -> str | None:
    """Why ``folder`` could not be made, or None; tried now and undone, so a run does not end on it."""
    made = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        made.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        for path in made:  # deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def _checkpoint_status(folder: Path, scenario: Scenario, seed: int | None, quiet: bool) -> None:
    """Say whether ``run --checkpoint`` starts afresh or resumes; refuse, in one line, a folder it cannot use."""
    try:
        root = run_seed(seed, scenario, folder)
        found = matching_header(folder, scenario, root) if root is not None else None
        check_writable(folder)
    except (OtherRun, Unwritable) as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(EXIT_USAGE)
    if quiet:
        return
    if found is None:
        line = f"Saving a checkpoint in {folder}/ at each simulated day's end."
    else:
        line = f"Resuming from the checkpoint in {folder}/ (seed {root}, day {int(found['minute'] // 1440)} done)."
    err_console.print(line, markup=False, highlight=False)


def _said(line: str, silent: bool) -> None:
    """A closing line of a command's report, unless it prints JSON or nothing."""
    if not silent:
        _console().print(line, highlight=False)


def _needs_out(out_dir: Path | None, resume: bool, force: bool) -> None:
    """--resume and --force are about the results in --out: refuse them without it."""
    for flag, given in (("--resume", resume), ("--force", force)):
        if given and out_dir is None:
            raise click.UsageError(f"{flag} needs --out DIR (the directory holding the results)")


def _root_seed(out_dir: Path | None, resume: bool, seed: int | None, base: Scenario) -> int:
    """The experiment's root seed: given, recorded by the experiment being resumed, the scenario's, or drawn."""
    from tiktok_sim.single_run import draw_seed

    recorded = read_manifest(out_dir) if resume and seed is None and out_dir is not None else None
    if recorded is not None and isinstance(recorded.get("root_seed"), int):
        return int(recorded["root_seed"])
    return seed if seed is not None else base.seed if base.seed is not None else draw_seed()


def _manifest(identity: dict[str, Any], overrides: tuple[str, ...]) -> dict[str, Any]:
    """An experiment's manifest.json: its identity, the overrides, argv and the versions."""
    from tiktok_sim.output import versions

    return {**identity, "overrides": list(overrides), "argv": sys.argv, **versions()}


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
    force: bool = False,
    scheduler: str | None = None,
    overrides: tuple[str, ...] = (),
) -> None:
    """Run replications and print their summary table (or JSON); shards go to ``out_dir``."""
    from tiktok_sim.experiments import experiment_identity, reach_bands, replicate, summaries
    from tiktok_sim.output import finite

    root = _root_seed(out_dir, resume, seed, scenario)
    identity = experiment_identity("replications", root, scenario, reps, [({}, scenario)])
    mode = _claim(out_dir, identity, resume, force) if out_dir is not None else None
    manifest = _manifest(identity, overrides)
    with _experiment(out_dir, mode, manifest, resume and not quiet) as store:
        with _progress(not quiet and err_console.is_terminal) as on_tick:
            done = [0]

            def tick() -> None:
                done[0] += 1
                if on_tick is not None:
                    on_tick(done[0], reps)

            replications = replicate(scenario, reps, root, executor, workers, tick, store, scheduler)
        summary, summary_rows = summaries("replications", root, reps, [({}, replications)])
        if store is not None:
            store.finish(summary, summary_rows, manifest)
    rows = summary["summary"]
    if as_json:
        click.echo(
            json.dumps(
                finite({"root_seed": root, "reps": reps, "seeds": replications.seeds, "summary": rows}), indent=2
            )
        )
    elif not quiet:
        _print_replications(scenario.name, root, reps, rows, reach_bands(replications))


DEFAULT_SWEEP_REPS = 3
VARY_ORIGIN: Origin = ("--vary", 0, 0)


@main.command(
    name="sweep",
    epilog=examples(
        "tiktok-sim sweep scenarios/posting_time.yaml --out results/posting",
        "tiktok-sim sweep scenarios/quickstart.yaml --vary recommender.exploration=0.02,0.08,0.2 --reps 5",
    ),
)
@scenario_options
@click.option("--vary", multiple=True, metavar="KEY=V1,V2", help="A swept key and its values (repeatable: a grid).")
@click.option("--sample", type=click.IntRange(min=1), help="Latin-hypercube points over --vary key=lo:hi ranges.")
@click.option("--reps", type=click.IntRange(1, MAX_REPS), help="Replications per point  [default: the file's, else 3]")
@click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: the scenario's, else drawn).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--out", "out_dir", type=Folder(file_okay=False, path_type=Path), help="Write shards and tables here.")
@executor_options
@click.option("--resume", is_flag=True, help="Keep finished shards in --out and run the rest.")
@force_option
@click.option("--quiet", is_flag=True, help="No table (exit code and --out only).")
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
    force: bool,
    quiet: bool,
) -> None:
    """Run scenario variants, each replicated, and tabulate key metrics with 95% CIs.

    The variants come from --vary options, or else from the file's sweep: block.
    """
    from tiktok_sim.experiments import experiment_identity, summaries, sweep
    from tiktok_sim.output import finite

    _needs_out(out_dir, resume, force)
    base = _load(scenario_file, overrides)
    try:
        plan = _sweep_plan(scenario_file, vary, sample, reps)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    root = _root_seed(out_dir, resume, seed, base)
    points = _sweep_points(scenario_file, overrides, plan, root)
    reps = plan.reps or DEFAULT_SWEEP_REPS
    identity = experiment_identity("sweep", root, base, reps, points)
    mode = _claim(out_dir, identity, resume, force) if out_dir is not None else None
    manifest = _manifest(identity, overrides)
    with _experiment(out_dir, mode, manifest, resume and not quiet) as store:
        results = sweep(points, reps, root, executor, workers, store=store, scheduler=scheduler)
        summary, summary_rows = summaries("sweep", root, reps, results)
        if store is not None:
            store.finish(summary, summary_rows, manifest)
    table = summary["points"]
    if as_json:
        click.echo(json.dumps(finite(summary), indent=2))
    elif not quiet:
        _print_sweep(base.name, root, reps, [k for k, _ in plan.axes], table, [f.name for f in base.featured])


def _sweep_plan(scenario_file: Path, vary: tuple[str, ...], sample: int | None, reps: int | None) -> SweepPlan:
    """--vary options if given, else the file's sweep: block; --sample and --reps win over the block.

    Raises:
        ValueError: for no sweep at all, or malformed --vary options.
    """
    from tiktok_sim.experiments import parse_vary
    from tiktok_sim.scenario.loader import load_sweep
    from tiktok_sim.scenario.sweep import SweepPlan

    block: SweepPlan | None = _or_exit(lambda: load_sweep(scenario_file))
    if vary:  # the command line replaces the block's axes; its reps still apply
        return SweepPlan(parse_vary(vary), {}, sample, reps or (block.reps if block else None))
    if block is None:
        raise ValueError(f"expected --vary KEY=V1,V2 or a sweep: block in {scenario_file}, found neither")
    return replace(block, sample=sample if sample is not None else block.sample, reps=reps or block.reps)


def _sweep_points(
    scenario_file: Path, overrides: tuple[str, ...], plan: SweepPlan, root: int
) -> list[tuple[dict[str, Any], Scenario]]:
    """Every point of the sweep, validated before anything runs; its values typed as applied (for the results)."""
    from tiktok_sim.experiments import grid, latin_hypercube
    from tiktok_sim.scenario import load_scenario
    from tiktok_sim.scenario.sweep import typed

    try:
        chosen = grid(plan.axes) if plan.sample is None else latin_hypercube(plan.axes, plan.sample, root)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    points, problems = [], []
    for point in chosen:
        placed = [(f"{k}={v}", plan.origins.get(k, VARY_ORIGIN)) for k, v in point.items()]
        try:
            scenario = load_scenario(scenario_file, overrides, placed)
            points.append((typed(point), scenario))  # parsed as the loader just did, so it cannot fail here
        except ScenarioError as exc:
            problems += [str(p) for p in exc.problems]
    for problem in dict.fromkeys(problems):  # every bad value once, not once per point it is in
        err_console.print(problem, markup=False)
    if problems:
        sys.exit(EXIT_USAGE)
    return points


@main.command(
    name="compare",
    epilog=examples(
        "tiktok-sim compare scenarios/quickstart.yaml mine.yaml --reps 10 --seed 1",
        "tiktok-sim compare scenarios/quickstart.yaml mine.yaml --out results/ab",
    ),
)
@click.argument("file_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("file_b", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value in both scenarios.")
@click.option("--reps", type=click.IntRange(2, MAX_REPS), default=5, show_default=True, help="Paired replications.")
@click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: the files' seed, else drawn).")
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--out", "out_dir", type=Folder(file_okay=False, path_type=Path), help="Write shards and tables here.")
@click.option("--resume", is_flag=True, help="Keep finished shards in --out and run the rest.")
@force_option
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
    out_dir: Path | None,
    resume: bool,
    force: bool,
) -> None:
    """Compare B against A on key metrics: paired replications, differences with 95% CIs, in words."""
    from tiktok_sim.experiments import SIDES, experiment_identity, files_seed, summaries, sweep
    from tiktok_sim.output import finite

    _needs_out(out_dir, resume, force)
    a, b = _load(file_a, overrides, one_of_two=True), _load(file_b, overrides, one_of_two=True)
    for path in dict.fromkeys((file_a, file_b)):
        _note_ignored_sweep(path, "compare")
    try:
        given = seed if seed is not None else files_seed(a, b)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    root = _root_seed(out_dir, resume, given, a)
    points = [(SIDES[0], a), (SIDES[1], b)]
    identity = experiment_identity("compare", root, a, reps, points)
    mode = _claim(out_dir, identity, resume, force) if out_dir is not None else None
    manifest = {**_manifest(identity, overrides), "compared": {"A": str(file_a), "B": str(file_b)}}
    with _experiment(out_dir, mode, manifest, resume) as store:
        results = sweep(points, reps, root, executor, workers, store=store, scheduler=scheduler, kind="compare")
        summary, summary_rows = summaries("compare", root, reps, results)
        if store is not None:
            store.finish(summary, summary_rows, manifest)
    if as_json:
        click.echo(json.dumps(finite(summary), indent=2))
        return
    _print_comparison(str(file_a), str(file_b), root, reps, summary["comparison"])


def _print_comparison(
    file_a: str, file_b: str, root: int, reps: int, rows: list[dict[str, Any]], width: int | None = None
) -> None:
    """Each metric's change in words, then what the adjustment covered (``compare``, ``report``)."""
    from tiktok_sim.experiments import holm_note, in_words
    from tiktok_sim.report.replications import render_comparison

    heading = f"A = {file_a}, B = {file_b}; {reps} paired replications, root seed {root}"
    _console(width).print(render_comparison(heading, [in_words(row) for row in rows], holm_note(rows)))


@main.command(
    epilog=examples(
        "tiktok-sim advise scenarios/quickstart.yaml --creator my_channel",
        "tiktok-sim advise scenarios/quickstart.yaml --creator my_channel --outcome pass_rate_stage_0 --budget 120",
    )
)
@scenario_options
@click.option("--creator", required=True, help="The featured creator to advise (its name).")
@click.option("--outcome", default="views_mean", show_default=True,
              help="The creator figure to rank by: views_mean, views_median, pass_rate_stage_0, reach_pool_1 "
                   "or followers_gained.")  # fmt: skip
@click.option(
    "--reps", type=click.IntRange(2, MAX_REPS), help="Paired replications per lever [default: what fits --budget]."
)
@click.option("--budget", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds to aim for when choosing --reps.")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: the scenario's, else drawn).")
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the advice as JSON.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write it as JSON here.")
def advise(
    scenario_file: Path,
    overrides: tuple[str, ...],
    creator: str,
    outcome: str,
    reps: int | None,
    budget: float,
    seed: int | None,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
    out_file: Path | None,
) -> None:
    """Which of a featured creator's levers (hook, length, posting hours, ...) would help, ranked with 95% CIs."""
    from tiktok_sim.advise import advise as advise_creator
    from tiktok_sim.advise import check_outcome, featured_index, levers, plan_reps
    from tiktok_sim.experiments import run_tasks
    from tiktok_sim.output import finite
    from tiktok_sim.report.advice import advice_json, render_advice
    from tiktok_sim.single_run import draw_seed

    try:
        check_outcome(outcome)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--outcome") from None
    if out_file is not None:
        _write_file(out_file, None)  # refused now, not after minutes of runs
    scenario = _load(scenario_file, overrides)
    root = seed if seed is not None else scenario.seed if scenario.seed is not None else draw_seed()
    try:
        index = featured_index(scenario, creator)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--creator") from None
    cores = workers or (1 if executor == "serial" else os.cpu_count() or 1)
    reps = reps or plan_reps(scenario, len(levers(scenario, index)) + 1, budget, cores)
    with _experiment(None, None, {}):
        advice = advise_creator(scenario, creator, reps, root, outcome,
                                lambda tasks: run_tasks(tasks, executor, workers, scheduler=scheduler))  # fmt: skip
    document = finite({"root_seed": root, **advice_json(advice)})
    if out_file is not None:
        _write_file(out_file, json.dumps(document, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    _console().print(render_advice(advice))


@main.command(
    epilog=examples(
        "tiktok-sim calibrate",
        "tiktok-sim calibrate scenarios/bench.yaml --reps 3",
    )
)
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a scenario value (repeatable).")
@click.option("--reps", type=click.IntRange(2, MAX_REPS), default=5, show_default=True, help="Replications.")
@click.option("--seed", type=click.IntRange(min=0), help="Root seed (default: the scenario's, else drawn).")
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def calibrate(
    scenario_file: Path | None,
    overrides: tuple[str, ...],
    reps: int,
    seed: int | None,
    executor: str,
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Replicate a scenario (the defaults if none) and check every published figure: exit 1 if one is off."""
    from tiktok_sim.calibrate import calibrate as judge
    from tiktok_sim.calibrate import calibration_metrics
    from tiktok_sim.experiments import run_tasks
    from tiktok_sim.output import finite
    from tiktok_sim.report.calibration import calibration_json, calibration_table
    from tiktok_sim.single_run import draw_seed

    scenario = _load(scenario_file, overrides)
    root = seed if seed is not None else scenario.seed if scenario.seed is not None else draw_seed()
    with _experiment(None, None, {}), _progress(not as_json and err_console.is_terminal) as on_tick:
        done = [0]

        def tick() -> None:
            done[0] += 1
            if on_tick is not None:
                on_tick(done[0], reps)

        found = judge(
            scenario,
            reps,
            root,
            lambda tasks: run_tasks(tasks, executor, workers, tick, scheduler=scheduler, measure=calibration_metrics),
        )
    if as_json:
        click.echo(json.dumps(finite({"scenario": scenario.name, "reps": reps, "root_seed": root,
                                      "figures": calibration_json(found)}), indent=2))  # fmt: skip
    else:
        _console().print(calibration_table(scenario.name, reps, root, found))
    if not all(v.ok for v in found):
        sys.exit(EXIT_RUNTIME)


@main.command(epilog=examples("tiktok-sim validate scenarios/posting_time.yaml --set users.count=5000"))
@scenario_options
def validate(scenario_file: Path, overrides: tuple[str, ...]) -> None:
    """Check a scenario and its sweep: block; print each problem as FILE:LINE:COL: key.path: message (exit 2)."""
    from tiktok_sim.scenario.loader import load_sweep

    scenario = _load(scenario_file, overrides)
    plan: SweepPlan | None = _or_exit(lambda: load_sweep(scenario_file))
    swept = f", a sweep of {len(_sweep_points(scenario_file, overrides, plan, root=0))} points" if plan else ""
    click.echo(f"{scenario_file}: ok ({scenario.users.count:,} users, {scenario.creators.count:,} creators, "
               f"{len(scenario.ladder)} pools{swept})")  # fmt: skip


@main.command(epilog=examples("tiktok-sim show scenarios/effects/cold_start.yaml --set users.count=500"))
@scenario_options
def show(scenario_file: Path, overrides: tuple[str, ...]) -> None:
    """Print the resolved scenario (after extends: and --set) as YAML."""
    from tiktok_sim.scenario.reference import dump_yaml

    click.echo(dump_yaml(_load(scenario_file, overrides)), nl=False)


@main.command(epilog=examples("tiktok-sim defaults > scenarios/defaults.yaml"))
def defaults() -> None:
    """Print every scenario key with its default and a comment (scenarios/defaults.yaml)."""
    from tiktok_sim.scenario.reference import defaults_yaml

    click.echo(defaults_yaml(), nl=False)


@main.command(
    epilog=examples("tiktok-sim schema --out scenario.schema.json", "tiktok-sim schema | jq '.properties | keys'")
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Write it to FILE instead of stdout."
)
def schema(out_file: Path | None) -> None:
    """Print the JSON Schema of scenario files, for editors (VS Code's YAML extension) and validators."""
    from tiktok_sim.scenario.json_schema import schema_json

    text = schema_json()
    if out_file is None:
        click.echo(text, nl=False)
        return
    _write_file(out_file, text)
    click.echo(f"Schema written to {out_file}")


def _write_file(path: Path, content: str | None) -> None:
    """Write one file atomically (None: only try, leaving no trace), or say in one line why it cannot be (exit 1)."""
    from tiktok_sim.output import atomic_write, temp_beside

    try:
        if content is None:
            probe = temp_beside(path)
            probe.write_bytes(b"")
            probe.unlink()
        else:
            atomic_write(path, content)
    except OSError as exc:
        err_console.print(f"{path}: cannot write: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_TIKTOK_SIM_COMPLETE"
"""The variable the completion scripts set when they ask ``tiktok-sim`` for completions."""


@main.command(
    epilog=examples(
        "tiktok-sim completion bash > ~/.local/share/bash-completion/completions/tiktok-sim",
        "tiktok-sim completion fish > ~/.config/fish/completions/tiktok-sim.fish",
    )
)
@click.argument("shell", metavar="SHELL", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for tiktok-sim: commands, options and files complete on Tab."""
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    if complete is None:  # click knows every shell of SHELLS
        raise click.BadParameter(f"no completion for {shell}", param_hint="SHELL")
    click.echo(complete(main, {}, "tiktok-sim", COMPLETE_VAR).source().rstrip("\n"))


@main.command(
    epilog=examples("tiktok-sim report results/", "tiktok-sim report results/ --featured creator_00042 --width 100")
)
@click.argument("results_dir", type=Folder(file_okay=False, path_type=Path))
@click.option(
    "--featured", multiple=True, metavar="NAME", help="Report on this creator (repeatable; default: the featured ones)."
)
@click.option(
    "--width",
    type=click.IntRange(MIN_WIDTH, MAX_WIDTH),
    help="Columns to render at (default: COLUMNS, else the terminal's).",
)
def report(results_dir: Path, featured: tuple[str, ...], width: int | None) -> None:
    """Print the report of a saved run or experiment (a directory written with --out) again, without rerunning it."""
    from tiktok_sim.check.read import Malformed

    manifest = read_manifest(results_dir)
    if manifest is None:
        err_console.print(f"{results_dir}: not a results directory (no readable manifest.json)", markup=False)
        sys.exit(EXIT_USAGE)
    try:
        if "root_seed" in manifest:
            _report_experiment(results_dir, manifest, featured, width)
        else:
            _report_run(results_dir, featured, width)
    except Malformed as exc:
        err_console.print(f"{results_dir}: {exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


def _report_run(results_dir: Path, featured: tuple[str, ...], width: int | None) -> None:
    """A saved run's full report, as ``run`` printed it."""
    from tiktok_sim.report import render_report
    from tiktok_sim.saved import load_run

    result = load_run(results_dir)
    names = [str(name) for name in result.creators_table.get("name", [])]
    chosen = [names.index(name) for name in _known(results_dir, featured, names)] if featured else None
    console = _console(width)
    console.print(render_report(result, width=min(console.width, REPORT_WIDTH), featured=chosen))


def _report_experiment(
    results_dir: Path, manifest: dict[str, Any], featured: tuple[str, ...], width: int | None
) -> None:
    """A saved experiment's replications table and reach bands, or its sweep table."""
    from tiktok_sim.experiments import reach_bands
    from tiktok_sim.saved import load_experiment

    saved = load_experiment(results_dir, manifest)
    names = [str(f.get("name")) for f in saved.manifest.scenario.get("featured") or []]
    chosen = _known(results_dir, featured, names) if featured else names
    m, name = saved.manifest, str(saved.manifest.scenario.get("name"))
    if m.kind == "replications":
        bands = {k: band for k, band in reach_bands(saved.replications).items() if k in chosen}
        _print_replications(name, m.root_seed, m.reps, saved.summary["summary"], bands, width)
    elif m.kind == "compare":
        files = manifest.get("compared")
        a, b = (str(files.get(side, side)) if isinstance(files, dict) else side for side in ("A", "B"))
        _print_comparison(a, b, m.root_seed, m.reps, saved.summary["comparison"], width)
    else:
        keys = list(dict.fromkeys(key for point in m.points for key in point.params))
        _print_sweep(name, m.root_seed, m.reps, keys, saved.summary["points"], chosen, width)


def _known(results_dir: Path, asked: tuple[str, ...], names: list[str]) -> list[str]:
    """The creators asked for with --featured; an unknown name is a usage error (exit 2)."""
    unknown = [name for name in asked if name not in names]
    if unknown:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        err_console.print(f"--featured {unknown[0]!r}: {results_dir} has no creator of that name (it has {shown})",
                          markup=False)  # fmt: skip
        sys.exit(EXIT_USAGE)
    return list(dict.fromkeys(asked))  # each once, in the order asked


def _formats(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    """--format's comma-separated list, checked."""
    from tiktok_sim.report.pictures import parse_formats

    try:
        return parse_formats(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command(
    epilog=examples("tiktok-sim plot results/", "tiktok-sim plot results/posting --out pictures/ --format png,html")
)
@click.argument("results_dir", type=Folder(file_okay=False, path_type=Path))
@click.option(
    "--out", "out_dir", type=Folder(file_okay=False, path_type=Path),
    help="Write the pictures here (default: DIR-plots, beside DIR).",
)  # fmt: skip
@click.option(
    "--format", "formats", default="png,svg", show_default=True, metavar="LIST", callback=_formats,
    help="Comma-separated: png, svg, and html (one self-contained page holding every picture).",
)  # fmt: skip
def plot(results_dir: Path, out_dir: Path | None, formats: tuple[str, ...]) -> None:
    """Draw a saved run's or experiment's pictures: reach curves, funnel, views per video, metrics with 95% CIs.

    Writes reach, funnel, views and, for an experiment, effects, each as PNG and SVG, and prints
    the files written. Needs matplotlib, the plot extra: pip install 'tiktok-sim[plot]'.
    """
    from tiktok_sim.report.pictures import default_out

    if not results_dir.is_dir():
        err_console.print(f"{results_dir}: no such directory", markup=False)
        sys.exit(EXIT_USAGE)
    manifest = read_manifest(results_dir)
    if manifest is None:
        err_console.print(f"{results_dir}: not a results directory (no readable manifest.json)", markup=False)
        sys.exit(EXIT_USAGE)
    for path in _draw(results_dir, manifest, out_dir or default_out(results_dir), "--out", formats):
        click.echo(path)


def _draw(
    results_dir: Path, manifest: dict[str, Any], out_dir: Path, option: str, formats: tuple[str, ...] | None = None
) -> list[Path]:
    """Draw a results directory's pictures into ``out_dir`` (given as ``option``); each failure is one line."""
    from tiktok_sim.check.read import Malformed
    from tiktok_sim.report.pictures import DEFAULT_FORMATS, check_destination, plot_results

    try:
        check_destination(results_dir, out_dir)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    _matplotlib()
    try:
        return plot_results(results_dir, manifest, out_dir, formats or DEFAULT_FORMATS)
    except Malformed as exc:
        err_console.print(f"{results_dir}: {exc}", markup=False)
        sys.exit(EXIT_RUNTIME)
    except OSError as exc:
        err_console.print(f"{out_dir}: cannot write pictures: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


def _draw_run(result: RunResult, scenario_file: Path, plot_dir: Path) -> None:
    """A run's pictures, drawn from the result in memory (``run --plot``)."""
    from tiktok_sim.report.pictures import DEFAULT_FORMATS, run_pictures, run_title, write_pictures

    try:
        write_pictures(run_pictures(result), plot_dir, DEFAULT_FORMATS, run_title(result), str(scenario_file))
    except OSError as exc:
        err_console.print(f"{plot_dir}: cannot write pictures: {exc.strerror or exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


def _matplotlib() -> None:
    """Exit 1, saying how to install it, if matplotlib is missing."""
    from tiktok_sim.report.pictures import PicturesUnavailable, require_matplotlib

    try:
        require_matplotlib()
    except PicturesUnavailable as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_RUNTIME)


@main.command(epilog=examples("tiktok-sim check results/"))
@click.argument("results_dir", type=Folder(file_okay=False, path_type=Path))
def check(results_dir: Path) -> None:
    """Re-verify a results directory: hashes, conserved views, funnel, gates (exit 1 on a mismatch)."""
    from tiktok_sim.check import check_results

    problems = check_results(results_dir)
    for problem in problems:
        err_console.print(_located(results_dir, problem), markup=False)
    if problems:
        sys.exit(EXIT_RUNTIME)
    click.echo(f"{results_dir}: ok")


_NAMES_A_FILE = re.compile(r"[\w.-]+(?:/[\w.-]+)*\.(?:json|csv|parquet): ")


def _located(results_dir: Path, problem: str) -> str:
    """A problem ``check`` found, naming the directory, or the file in it, it is about."""
    if problem.startswith(("to finish it", str(results_dir))):  # a hint that follows a problem, or placed already
        return problem
    return f"{results_dir}/{problem}" if _NAMES_A_FILE.match(problem) else f"{results_dir}: {problem}"


@main.command(epilog=examples("tiktok-sim explain results/ 0 17", "tiktok-sim explain results/ --creator my_channel"))
@click.argument("results_dir", type=Folder(file_okay=False, path_type=Path))
@click.argument("video_ids", nargs=-1, type=click.IntRange(min=0))
@click.option("--creator", help="Explain every video this creator posted.")
def explain(results_dir: Path, video_ids: tuple[int, ...], creator: str | None) -> None:
    """Follow videos of a saved run up the ladder: each pool, how it was served, every gate and the cohort."""
    from tiktok_sim.explain import ExplainError, explain_journeys
    from tiktok_sim.report.explain import explain_note, render_journey

    if bool(video_ids) == (creator is not None):
        raise click.UsageError("give VIDEO_IDS or --creator NAME (one of the two)")
    try:
        journeys = explain_journeys(results_dir, list(dict.fromkeys(video_ids)) or None, creator)
    except ExplainError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_USAGE)
    console = _console()
    for journey in journeys:
        console.print(render_journey(journey))
    console.print(explain_note())


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[float, float], None] | None]:
    """A progress bar on stderr over simulated time, or nothing."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled:
        yield None
        return
    columns = (TextColumn("simulating"), BarColumn(), TextColumn("{task.fields[day]}"), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("run", total=1.0, day="")

        def update(done: float, total: float) -> None:
            bar.update(task, completed=done / total, day=f"day {done / 1440:.1f} of {total / 1440:.1f}")

        yield update
