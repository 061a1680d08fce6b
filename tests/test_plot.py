"""`plot` and `run --plot` draw a saved run's or experiment's pictures: real images, one-line errors."""

from __future__ import annotations

import base64
import dataclasses
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tiktok_sim.check import check_results
from tiktok_sim.cli import main
from tiktok_sim.metrics import funnel
from tiktok_sim.outdir import read_manifest
from tiktok_sim.output import write_outputs
from tiktok_sim.report.figures import DPI, HEIGHT, PANEL_HEIGHT, WIDTH, views_figure
from tiktok_sim.report.pictures import experiment_pictures, parse_formats, run_pictures
from tiktok_sim.results import RunResult
from tiktok_sim.saved import load_experiment, load_experiment_tables

WIDE = round(WIDTH * DPI)
ONE_PANEL, ONE_ROW = round(HEIGHT * DPI), round(PANEL_HEIGHT * DPI)


def _image(path: Path) -> np.ndarray:
    """A PNG's pixels, (height, width, channels) floats in [0, 1]."""
    image = pytest.importorskip("matplotlib.image")
    return np.asarray(image.imread(path))


def _drawn(pixels: np.ndarray) -> bool:
    """Whether an image holds a drawing: many colours, and more than a sliver of it not background."""
    channels = np.round(pixels * 255).astype(np.uint64).reshape(-1, pixels.shape[-1])
    packed = np.zeros(channels.shape[0], dtype=np.uint64)
    for channel in channels.T:  # each pixel's colour as one number
        packed = packed * np.uint64(256) + channel
    colours = np.unique(packed).size
    background = float((packed == packed[0]).mean())
    return colours > 20 and float(pixels.std()) > 0.05 and background < 0.97


def _svg(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", path
    return root


def _plot(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plot", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def run_dir(tiny_result: RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plot") / "run"
    write_outputs(tiny_result, out)
    return out


@pytest.fixture(scope="module")
def reps_dir(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plot") / "reps"
    args = ["run", str(tiny_file), "--reps", "2", "--executor", "serial", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def sweep_dir(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plot") / "sweep"
    args = ["sweep", str(tiny_file), "--vary", "featured.0.hook=0.3,0.8", "--reps", "2", "--executor", "serial",
            "--out", str(out), "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def compare_dir(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plot")
    a, b = folder / "a.yaml", folder / "b.yaml"
    a.write_text(tiny_file.read_text())
    b.write_text("extends: a.yaml\nfeatured: {me: {hook: 0.95, quality: 0.95}}\n")
    out = folder / "ab"
    args = ["compare", str(a), str(b), "--reps", "2", "--executor", "serial", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def test_the_not_blank_check_can_fail() -> None:
    white = np.ones((50, 80, 4))
    assert not _drawn(white)
    one_line = white.copy()
    one_line[25, :, :3] = 0.0
    assert not _drawn(one_line)


def test_a_run_is_drawn_as_png_svg_and_one_html_page(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = _plot(str(run_dir), "--out", str(tmp_path / "pics"), "--format", "html,svg,png")
    assert code == 0, err
    names = ["reach.png", "reach.svg", "funnel.png", "funnel.svg", "views.png", "views.svg", "report.html"]
    assert out.splitlines() == [str(tmp_path / "pics" / name) for name in names]
    # the tiny world has one featured creator: its panel and the run's top videos, side by side
    sizes = {"reach": (ONE_ROW, WIDE), "funnel": (ONE_PANEL, WIDE), "views": (ONE_PANEL, WIDE)}
    for name, size in sizes.items():
        pixels = _image(tmp_path / "pics" / f"{name}.png")
        assert pixels.shape[:2] == size, name
        assert _drawn(pixels), name
        assert len(_svg(tmp_path / "pics" / f"{name}.svg")) > 0
    page = (tmp_path / "pics" / "report.html").read_text()
    embedded = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == 3
    for data in embedded:
        assert ET.fromstring(base64.b64decode(data)).tag.endswith("svg")
    assert "<title>tiny, seed 11:" in page
    assert not list((tmp_path / "pics").glob(".*")), "a temporary file was left behind"


def test_pictures_draw_the_run_s_numbers(tiny_result: RunResult) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.patches import Rectangle

    pictures = {picture.name: picture.figure for picture in run_pictures(tiny_result)}
    (ax,) = pictures["funnel"].axes
    bars = [patch.get_height() for patch in ax.patches if isinstance(patch, Rectangle)]
    rows = funnel(tiny_result)
    assert bars == [row["entered"] for row in rows] + [row["passed"] for row in rows]
    assert ax.get_yscale() == "log"
    featured, top = pictures["reach"].axes
    assert featured.get_title(loc="left") == "me: reach of top videos"
    v, reach = tiny_result.videos, tiny_result.reach
    mine = np.flatnonzero(v["creator_id"] == 0)
    best = mine[np.argmax(v["views"][mine])]
    first = featured.get_lines()[0]
    assert first.get_label() == f"#{best}"
    drawn = np.asarray(first.get_ydata())
    assert drawn.tolist() == reach["views"][reach["video_id"] == best].tolist()
    assert drawn[-1] <= v["views"][best]  # cumulative views never exceed the video's total
    assert len(top.get_lines()) == 8
    assert pictures["views"].axes[0].get_xscale() == "log"


def test_the_same_results_give_the_same_files(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    for name in ("a", "b"):
        assert _plot(str(run_dir), "--out", str(tmp_path / name))[0] == 0
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_the_default_is_beside_the_results_and_check_still_passes(run_dir: Path) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = _plot(str(run_dir))
    assert code == 0, err
    assert {Path(line).parent for line in out.splitlines()} == {run_dir.with_name("run-plots")}
    assert check_results(run_dir) == []


def test_run_plot_draws_what_plot_draws_from_the_saved_run(tiny_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    args = ["run", str(tiny_file), "--out", str(tmp_path / "r"), "--plot", str(tmp_path / "p")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"Pictures written to {tmp_path / 'p'}/")
    assert _plot(str(tmp_path / "r"), "--out", str(tmp_path / "q"))[0] == 0
    written = sorted(path.name for path in (tmp_path / "p").iterdir())
    assert written == ["funnel.png", "funnel.svg", "reach.png", "reach.svg", "views.png", "views.svg"]
    for name in written:
        assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "q" / name).read_bytes(), name


def test_replications_are_drawn_with_their_intervals(reps_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = _plot(str(reps_dir), "--out", str(tmp_path))
    assert code == 0, err
    assert [Path(line).name for line in out.splitlines()] == [
        f"{name}.{fmt}" for name in ("reach", "funnel", "views", "effects") for fmt in ("png", "svg")
    ]
    for name in ("reach", "funnel", "views", "effects"):
        pixels = _image(tmp_path / f"{name}.png")
        assert pixels.shape[1] == WIDE and _drawn(pixels), name
        _svg(tmp_path / f"{name}.svg")
    # a panel of rates, then one per other metric: taller than a page of one panel
    assert _image(tmp_path / "effects.png").shape[0] > 3 * ONE_PANEL
    assert _image(tmp_path / "funnel.png").shape[:2] == (ONE_PANEL, WIDE)
    assert check_results(reps_dir) == []


def test_a_sweep_is_drawn_point_by_point(sweep_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = _plot(str(sweep_dir), "--out", str(tmp_path), "--format", "png")
    assert code == 0, err
    assert [Path(line).name for line in out.splitlines()] == ["reach.png", "funnel.png", "views.png", "effects.png"]
    for name in ("reach", "funnel", "views", "effects"):
        assert _drawn(_image(tmp_path / f"{name}.png")), name
    # the sweep's six metrics and the featured creator's two, two panels to a row
    assert _image(tmp_path / "effects.png").shape[0] == round(4 * 2.6 * DPI)


def test_a_comparison_is_drawn_side_by_side(compare_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = _plot(str(compare_dir), "--out", str(tmp_path), "--format", "png,svg")
    assert code == 0, err
    names = [Path(line).name for line in out.splitlines()]
    assert names == [f"{name}.{fmt}" for name in ("reach", "funnel", "views", "effects") for fmt in ("png", "svg")]
    for name in ("reach", "funnel", "views", "effects"):
        pixels = _image(tmp_path / f"{name}.png")
        assert pixels.shape[1] == WIDE and _drawn(pixels), name
    assert check_results(compare_dir) == []
    # A and B each have a line in the funnel, named with their files; the changes are B against A
    saved = load_experiment(compare_dir, read_manifest(compare_dir) or {})
    pictures = {p.name: p.figure for p in experiment_pictures(saved, load_experiment_tables(compare_dir), [{}, {}])}
    labels = [line.get_label() for line in pictures["funnel"].axes[0].get_lines()]
    assert labels == [f"A: {compare_dir.parent / 'a.yaml'}", f"B: {compare_dir.parent / 'b.yaml'}"]
    first = pictures["effects"].axes[0]
    assert first.get_title(loc="left").startswith("relative change, B / A - 1")


def test_run_reps_plot_needs_out(tiny_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tiny_file), "--reps", "2", "--plot", str(tmp_path)])
    assert result.exit_code == 2
    assert "--plot with --reps needs --out DIR" in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (lambda d: d / "absent", 2, "absent: no such directory"),
        (lambda d: d, 2, "not a results directory (no readable manifest.json)"),
    ],
)
def test_a_directory_without_results_is_one_line(tmp_path: Path, make: object, code: int, message: str) -> None:
    assert callable(make)
    exit_code, out, err = _plot(str(make(tmp_path)), "--out", str(tmp_path / "pics"))
    assert exit_code == code
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "pics").exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("funnel.csv", "run_id,point,replication,stage,pool_size,entered,passed\np0-r0,0,0,0,100,many,3\n",
         "funnel.csv: line 2: entered: expected an integer, found 'many'"),
        ("videos.csv", "run_id,point\n", "videos.csv: missing column(s) replication, views"),
        ("summary.json", '{"root_seed": 11, "summary": 3}', "summary.json: expected an object with a list 'summary'"),
    ],
)  # fmt: skip
def test_malformed_experiment_files_are_one_line(
    reps_dir: Path, tmp_path: Path, name: str, text: str, message: str
) -> None:
    pytest.importorskip("matplotlib")
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in reps_dir.iterdir():
        if path.is_file():
            (broken / path.name).write_bytes(path.read_bytes())
    (broken / name).write_text(text)
    code, out, err = _plot(str(broken), "--out", str(tmp_path / "pics"))
    assert code == 1
    assert err == f"{broken}: {message}\n"
    assert "Traceback" not in out + err


def test_a_malformed_run_is_one_line(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in run_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "summary.json").write_text('{"seed": ')
    code, _, err = _plot(str(broken), "--out", str(tmp_path / "pics"))
    assert code == 1
    assert err.startswith(f"{broken}: summary.json: not valid JSON") and err.count("\n") == 1


def test_pictures_are_never_written_into_the_results(run_dir: Path, tiny_file: Path) -> None:
    code, _, err = _plot(str(run_dir), "--out", str(run_dir / "pics"))
    assert code == 2
    assert "inside the results directory" in err
    assert not (run_dir / "pics").exists()
    run = CliRunner().invoke(main, ["run", str(tiny_file), "--out", str(run_dir), "--plot", str(run_dir)])
    assert run.exit_code == 2 and "--plot" in run.stderr


def test_without_matplotlib_the_command_says_how_to_install_it(
    run_dir: Path, tiny_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    code, _, err = _plot(str(run_dir), "--out", str(tmp_path / "pics"))
    assert code == 1
    assert err.count("\n") == 1 and "pip install 'tiktok-sim[plot]'" in err
    assert not (tmp_path / "pics").exists()
    # run --plot says so before it simulates anything
    run = CliRunner().invoke(main, ["run", str(tiny_file), "--out", str(tmp_path / "r"), "--plot", str(tmp_path)])
    assert run.exit_code == 1 and "pip install 'tiktok-sim[plot]'" in run.stderr
    assert not (tmp_path / "r").exists()


def test_formats() -> None:
    assert parse_formats("svg, PNG") == ("png", "svg")
    assert parse_formats("html") == ("html",)
    for bad in ("", "jpg", "png,gif"):
        with pytest.raises(ValueError, match="expected a comma-separated list of png, svg, html"):
            parse_formats(bad)
    result = CliRunner().invoke(main, ["plot", ".", "--format", "pdf"])
    assert result.exit_code == 2 and "found 'pdf'" in result.stderr


def test_views_nobody_saw_still_make_a_picture() -> None:
    pytest.importorskip("matplotlib")
    figure = views_figure([("", np.zeros(5, dtype=np.int64), 1.0)], "Views per video", "videos")
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert texts == ["no video was viewed"]


def test_a_dollar_in_a_name_is_drawn_as_written(tiny_result: RunResult, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tiktok_sim.report.pictures import write_pictures

    names = tiny_result.creators_table["name"].copy()
    names[tiny_result.creators_table["featured"].astype(bool)] = r"tips $\nope$ here"  # not mathematics
    renamed = dataclasses.replace(tiny_result, creators_table={**tiny_result.creators_table, "name": names})
    pictures = run_pictures(renamed)
    written = write_pictures(pictures, tmp_path / "pics", ("png",), "t")  # mathtext would fail on \nope
    assert len(written) == 3
    featured = pictures[0].figure.axes[0]
    assert featured.get_title(loc="left") == r"tips $\nope$ here: reach of top videos"
    assert _drawn(_image(tmp_path / "pics" / "reach.png"))
