"""Pictures of a run or an experiment: PNG and SVG files, and one self-contained HTML page.

They show what the terminal report shows, drawn for a page: reach curves, the funnel, the
distribution of views per video, and an experiment's metrics with their 95% intervals.
matplotlib is an extra (``pip install 'tiktok-sim[plot]'``): it is imported only when a
picture is drawn, on Agg canvases (no display and no pyplot state). The figures themselves are
drawn by :mod:`tiktok_sim.report.figures`; this module chooses them for a run or an
experiment, and :func:`plot_results` reads a saved directory through :mod:`tiktok_sim.saved`
and writes the files, each one atomically.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tiktok_sim import __version__
from tiktok_sim.experiments import reach_bands, sweep_metrics
from tiktok_sim.metrics import funnel
from tiktok_sim.outdir import results_holding
from tiktok_sim.output import atomic_write
from tiktok_sim.report.figures import (
    DPI,
    Band,
    Curve,
    Panel,
    band_figure,
    comparison_figure,
    funnel_figure,
    funnel_lines_figure,
    intervals_figure,
    reach_figure,
    sweep_figure,
    views_figure,
)
from tiktok_sim.report.terminal import CURVES_PER_CHART
from tiktok_sim.results import RunResult
from tiktok_sim.saved import (
    ExperimentTables,
    SavedExperiment,
    load_experiment,
    load_experiment_tables,
    load_replications,
    load_run,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "svg", "html")
"""What ``--format`` may list: one file per picture and format, or one page holding them all (html)."""
DEFAULT_FORMATS = ("png", "svg")
INSTALL = "pip install 'tiktok-sim[plot]'"
SVG_SALT = "tiktok-sim"
"""Fixes the SVG element ids, so the same data gives the same file."""

REACH_CAPTION = (
    "Reach: cumulative views by hour since upload, for each featured creator's most viewed videos and for the "
    "run's top videos"
)
BANDS_CAPTION = (
    "Reach: each featured creator's median video, cumulative views by hour since upload; the band holds the "
    "middle 80% of the replications"
)


class PicturesUnavailable(RuntimeError):
    """matplotlib is not installed; the message says how to install it, in one line."""


@dataclass(frozen=True)
class Picture:
    """One picture: its file name (without extension), its caption and the figure."""

    name: str
    caption: str
    figure: Figure


def require_matplotlib() -> None:
    """Check that matplotlib can be imported.

    Raises:
        PicturesUnavailable: it cannot.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PicturesUnavailable(f"pictures need matplotlib, which is not installed: {INSTALL}") from None


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,svg"`` as ``("png", "svg")``, in the order of :data:`FORMATS`.

    Raises:
        ValueError: an empty list, or a name that is not one of :data:`FORMATS`.
    """
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        found = repr(unknown[0]) if unknown else "nothing"
        raise ValueError(f"expected a comma-separated list of {', '.join(FORMATS)}, found {found}")
    return tuple(name for name in FORMATS if name in names)


def default_out(results_dir: Path) -> Path:
    """Where a results directory's pictures go by default: ``DIR-plots`` beside it."""
    base = results_dir if results_dir.name else results_dir.resolve()
    return base.with_name(f"{base.name}-plots")


def check_destination(results_dir: Path | None, out_dir: Path) -> None:
    """Refuse to write pictures into a results directory, where ``check`` would find files it did not list.

    Raises:
        ValueError: ``out_dir`` is ``results_dir``, another results directory, or inside one.
    """
    out = out_dir.resolve()
    results = results_dir.resolve() if results_dir is not None else None  # the results still to be written
    holder = results if results is not None and (out == results or results in out.parents) else None
    holder = holder or results_holding(out)
    if holder is not None:
        raise ValueError(f"{out_dir} is inside the results directory {holder} (check would refuse the "
                         "pictures there); choose a directory outside it")  # fmt: skip


def plot_results(results_dir: Path, manifest: Mapping[str, Any], out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Draw a saved run's or experiment's pictures into ``out_dir``; return the files written.

    Args:
        results_dir: a directory written by ``run --out``, ``run --reps N --out`` or ``sweep --out``.
        manifest: its manifest.json (an experiment's has a ``root_seed``).
        out_dir: where the pictures go (created if needed; files of the same name are replaced).
        formats: some of :data:`FORMATS`.

    Raises:
        ValueError: ``out_dir`` is ``results_dir`` or inside it.
        PicturesUnavailable: matplotlib is not installed.
        Malformed: a file of ``results_dir`` cannot be read as what it should be.
        OSError: ``out_dir`` cannot be written.
    """
    check_destination(results_dir, out_dir)
    require_matplotlib()
    if "root_seed" not in manifest:
        result = load_run(results_dir)
        return write_pictures(run_pictures(result), out_dir, formats, run_title(result), str(results_dir))
    saved = load_experiment(results_dir, dict(manifest))
    tables = load_experiment_tables(results_dir)
    bands = [reach_bands(saved.replications)]
    bands += [reach_bands(load_replications(results_dir, p)) for p in range(1, len(saved.manifest.points))]
    pictures = experiment_pictures(saved, tables, bands)
    return write_pictures(pictures, out_dir, formats, experiment_title(saved), str(results_dir))


def write_pictures(
    pictures: list[Picture], out_dir: Path, formats: Sequence[str], title: str, source: str = ""
) -> list[Path]:
    """Write each picture as ``NAME.png`` and ``NAME.svg``, and all of them into ``report.html``, as asked.

    Each file is written under a temporary name and renamed into place.

    Args:
        pictures: what to write.
        out_dir: the directory (created if needed).
        formats: some of :data:`FORMATS`.
        title: the HTML page's heading.
        source: what the pictures were drawn from, named under the heading.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    svgs: dict[str, bytes] = {}
    for picture in pictures:
        _lay_out(picture.figure)
        for fmt in ("png", "svg"):
            if fmt not in formats and not (fmt == "svg" and "html" in formats):
                continue
            data = render(picture.figure, fmt)
            if fmt == "svg":
                svgs[picture.name] = data
            if fmt in formats:
                path = out_dir / f"{picture.name}.{fmt}"
                atomic_write(path, data)
                written.append(path)
    if "html" in formats:
        path = out_dir / "report.html"
        atomic_write(path, html_page(title, source, pictures, svgs))
        written.append(path)
    return written


def _lay_out(figure: Figure) -> None:
    """Place the panels once, for every format: laying out is most of the cost of drawing a picture.

    A ``$`` in a text so far can only come from the data (a creator's name, a swept value):
    it is drawn as written, not read as mathematics, which a stray backslash would make fail.
    Tick labels, which the drawing writes next, keep their mathematics (10³ on log axes).
    """
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        if "$" in text.get_text():
            text.set_parse_math(False)
    figure.draw_without_rendering()
    figure.set_layout_engine("none")


def render(figure: Figure, fmt: str) -> bytes:
    """``figure`` as PNG or SVG bytes; the same figure gives the same bytes (no date, fixed ids)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def html_page(title: str, source: str, pictures: list[Picture], svgs: Mapping[str, bytes]) -> str:
    """One self-contained page: a heading, then each picture (SVG embedded as base64) with its caption."""
    figures = "\n".join(
        f'<figure id="{picture.name}">\n<img alt="{html.escape(picture.caption)}" '
        f'src="data:image/svg+xml;base64,{base64.b64encode(svgs[picture.name]).decode("ascii")}">\n'
        f"<figcaption>{html.escape(picture.caption)}</figcaption>\n</figure>"
        for picture in pictures
    )
    drawn = f"Drawn from {html.escape(source)} by tiktok-sim {__version__}." if source else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;color:#222}"
        "figure{margin:2em 0}img{max-width:100%;height:auto}figcaption{color:#555;margin-top:.5em}</style>\n"
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n<p>{drawn}</p>\n{figures}\n</body>\n</html>\n"
    )


# A run.


def run_title(result: RunResult) -> str:
    """E.g. "quickstart, seed 7: 1,234 videos, 567,890 impressions"."""
    return f"{result.scenario.name}, seed {result.seed}: {result.n_videos:,} videos, {result.impressions:,} impressions"


def run_pictures(result: RunResult) -> list[Picture]:
    """A run's reach curves, funnel and distribution of views per video."""
    v, c = result.videos, result.creators_table
    panels: list[Panel] = []
    for cid in np.flatnonzero(c.get("featured", np.zeros(0, dtype=bool))):
        mine = np.flatnonzero(v["creator_id"] == cid)
        panels.append((f"{c['name'][cid]}: reach of top videos", _curves(result, mine)))
    panels.append(("The run's top videos", _curves(result, np.arange(v["views"].size))))
    rows = funnel(result)
    stages = [f"stage {row['stage']}\npool {row['pool_size']:,}" for row in rows]
    entered = np.array([row["entered"] for row in rows], dtype=np.float64)
    passed = np.array([row["passed"] for row in rows], dtype=np.float64)
    funnel_chart = funnel_figure(stages, entered, passed, "Funnel: who climbs the ladder", "videos")
    return [
        Picture("reach", REACH_CAPTION, reach_figure(panels)),
        Picture("funnel", "Funnel: videos that entered and passed each stage of the ladder", funnel_chart),
        Picture(
            "views", "Views per video, on log axes", views_figure([("", v["views"], 1.0)], "Views per video", "videos")
        ),
    ]


def _curves(result: RunResult, videos: np.ndarray) -> list[Curve]:
    """The reach of the most viewed of ``videos`` (row indices), as the terminal report draws them."""
    v, reach = result.videos, result.reach
    if not reach:
        return []
    curves = []
    for i in videos[np.argsort(-v["views"][videos], kind="stable")][:CURVES_PER_CHART]:
        rows = reach["video_id"] == v["video_id"][i]
        if rows.any():
            curves.append((f"#{v['video_id'][i]}", reach["hour"][rows], reach["views"][rows]))
    return curves


# An experiment.


def experiment_title(saved: SavedExperiment) -> str:
    """E.g. "quickstart: 5 replications (root seed 1)" or "quickstart: sweep of 4 points, 3 replications each"."""
    m = saved.manifest
    name = str(m.scenario.get("name"))
    if m.kind == "replications":
        return f"{name}: {m.reps} replications (root seed {m.root_seed})"
    if m.kind == "compare":
        return f"B against A, {m.reps} paired replications (root seed {m.root_seed})"
    return f"{name}: sweep of {len(m.points)} points, {m.reps} replications each (root seed {m.root_seed})"


def experiment_pictures(
    saved: SavedExperiment, tables: ExperimentTables, bands: list[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]
) -> list[Picture]:
    """An experiment's reach bands, funnel, views per video and metrics (or changes) with their 95% intervals.

    Args:
        saved: the experiment's manifest and summary.
        tables: its funnel and views.
        bands: per point, each featured creator's reach band (:func:`~tiktok_sim.experiments.reach_bands`).
    """
    m = saved.manifest
    labels = _point_labels(saved)
    featured = _featured(m.scenario)
    if m.kind == "compare":
        featured += [name for name in _featured(getattr(m, "scenario_b", None) or {}) if name not in featured]
    panels = _band_panels(featured, labels, bands)
    pictures = [Picture("reach", BANDS_CAPTION, band_figure(panels))] if panels else []
    pictures.append(Picture("funnel", "Funnel: videos that entered and passed each stage, mean per replication",
                            _experiment_funnel(tables.funnel, labels)))  # fmt: skip
    series = []
    for p, label in enumerate(labels):
        reps = np.unique(tables.funnel["replication"][tables.funnel["point"] == p]).size
        if reps:
            series.append((label, tables.views["views"][tables.views["point"] == p], 1.0 / reps))
    pictures.append(Picture("views", "Views per video, on log axes, per replication",
                            views_figure(series, "Views per video", "videos per replication")))  # fmt: skip
    title = experiment_title(saved)
    if m.kind == "compare":
        figure = comparison_figure(saved.summary["comparison"], title)
        caption = "B against A on paired replications: each metric's change with its 95% confidence interval"
    elif m.kind == "sweep":
        keys = list(dict.fromkeys(key for point in m.points for key in point.params))
        figure = sweep_figure(saved.summary["points"], keys, list(sweep_metrics(featured)), title)
        caption = "Each metric's mean at each point of the sweep, with its 95% confidence interval"
    else:
        figure = intervals_figure(saved.summary["summary"], title)
        caption = "Each metric's mean over the replications, with its 95% confidence interval"
    pictures.append(Picture("effects", caption, figure))
    return pictures


def _point_labels(saved: SavedExperiment) -> list[str]:
    """How each point is named in a legend: its parameters; A and B with their files; "" for replications."""
    m = saved.manifest
    if m.kind == "replications":
        return [""]
    if m.kind == "compare":
        files = getattr(m, "compared", None)
        sides = [str(point.params.get("side", side)) for point, side in zip(m.points, "AB", strict=False)]
        return [f"{side}: {files[side]}" if isinstance(files, dict) and side in files else side for side in sides]
    return [point_label(point.params) for point in m.points]


def _band_panels(
    featured: list[str], labels: list[str], bands: list[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]
) -> list[Panel]:
    """A panel per featured creator with a reach band, holding each point's band."""
    panels: list[Panel] = []
    for name in featured:
        shown: list[Band] = [
            (labels[p] or "median", *by_name[name]) for p, by_name in enumerate(bands) if name in by_name
        ]
        if shown:
            panels.append((f"{name}: the median video's reach, p10-p90 across replications", shown))
    return panels


def _experiment_funnel(table: Mapping[str, np.ndarray], labels: list[str]) -> Figure:
    """The replications' funnel as bars; a sweep's or a comparison's as a line per point."""
    funnels = [_point_funnel(table, p) for p in range(len(labels))]
    if len(labels) > 1:
        lines = [(label, f[2]) for label, f in zip(labels, funnels, strict=True) if f[0]]
        return funnel_lines_figure(lines, "Funnel: videos entering each stage, mean per replication")
    stages, pools, entered, passed, low, high = funnels[0]
    names = [f"stage {s}\npool {pool:,}" for s, pool in zip(stages, pools, strict=True)]
    title = "Funnel: mean per replication (whiskers: range)"
    return funnel_figure(names, entered[:-1], passed, title, "videos per replication", low, high)


def point_label(params: Mapping[str, str]) -> str:
    """A sweep point's parameters in one line: "featured.0.hook=0.3, users.count=500"."""
    return ", ".join(f"{key}={value}" for key, value in params.items())


def _featured(scenario: Mapping[str, Any]) -> list[str]:
    """The featured creators' names of a saved scenario."""
    entries = scenario.get("featured")
    return [str(f.get("name")) for f in entries if isinstance(f, dict)] if isinstance(entries, list) else []


def _point_funnel(
    table: Mapping[str, np.ndarray], point: int
) -> tuple[list[int], list[int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One point's funnel over its finished replications.

    Returns:
        stages, their pool sizes, (stages + 1,) mean videos entering each stage then completing
        the ladder, (stages,) mean passing, and (stages,) the least and the most entering.
    """
    at = table["point"] == point
    reps = np.unique(table["replication"][at]).size
    stages = np.unique(table["stage"][at]).tolist()
    rows = [at & (table["stage"] == s) for s in stages]
    pools = [int(table["pool_size"][row][0]) for row in rows]
    entered = np.array([table["entered"][row].sum() / reps for row in rows])
    passed = np.array([table["passed"][row].sum() / reps for row in rows])
    low = np.array([table["entered"][row].min() for row in rows], dtype=np.float64)
    high = np.array([table["entered"][row].max() for row in rows], dtype=np.float64)
    return stages, pools, np.append(entered, passed[-1:]), passed, low, high
