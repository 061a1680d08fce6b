"""Tables and text that fit the width they are rendered at, without cutting a number or a name.

A :class:`Fit` is built when it is rendered, from the width it is given, so the same report
fits an 80-column terminal, a 120-column one or the inside of a panel. :func:`fit_table` lays a
table out for that width in steps, taking the first that fits:

1. every column at its natural width, headers and text cells wrapped at spaces (and after the
   column's ``breaks`` characters) if need be, never inside a number or a name;
2. large numbers abbreviated (12,345 -> 12.3k, 5,000,000 -> 5M);
3. low-value columns dropped, lowest value first, and named in the table's caption; or, for a
   table whose columns are all worth keeping, the columns split over several tables, each
   repeating the leading key columns.

Column widths are computed here and given to Rich as fixed widths, so Rich never has to shrink
a column below its longest word (where it would cut the cell with "…"). Cells that cannot fit
even so (a terminal far narrower than 80 columns) are folded onto the next line, never cut.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box as boxes
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


class Fit:
    """A renderable built for the width it is rendered at: ``build(width)``."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        """Args: build: returns the renderable for a given number of columns."""
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Build for the width on offer and render that."""
        yield self.build(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """As wide as what it builds for the width on offer."""
        return Measurement.get(console, options, self.build(options.max_width))


def abbreviate(value: float) -> str:
    """A number of 10,000 or more in three significant digits and a suffix: 12.3k, 100k, 1M, 1.25M.

    Smaller numbers keep their full form (2,374).
    """
    if not math.isfinite(value) or abs(value) < 10_000:
        return f"{value:,.0f}" if math.isfinite(value) else "-"
    for scale, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        scaled = abs(value) / scale
        digits = max(0, 2 - math.floor(math.log10(scaled))) if scaled >= 1 else 2
        shown = f"{scaled:.{digits}f}"
        if float(shown) < 1000 or suffix == "T":
            shown = shown.rstrip("0").rstrip(".") if "." in shown else shown
            return f"{'-' if value < 0 else ''}{shown}{suffix}"
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class Num:
    """A cell written in full, and shorter for narrow layouts ("12,345" and "12.3k")."""

    full: str
    short: str


def count(value: int | float) -> Num:
    """A whole number with thousands separators, abbreviated in narrow layouts."""
    return Num(f"{value:,.0f}", abbreviate(value))


Cell = str | Num | Text
"""Plain text, a number with a short form, or styled text (kept whole: never wrapped or abbreviated)."""


@dataclass(frozen=True)
class Col:
    """One column of a fitted table.

    Attributes:
        header: the column's title; it wraps at spaces and after ``breaks``.
        justify: "left" or "right".
        wrap: the cells are text that may wrap at spaces and after ``breaks``; otherwise each
            line of a cell stays whole.
        breaks: characters after which a line may also break ("_" for metric names, ":" for
            stop reasons).
        drop: 0 to keep the column always; otherwise the column is dropped when the table is
            too wide even with its numbers abbreviated, the highest ``drop`` first.
        loose: wrap only as a last resort: a table that splits its columns (``keys``) first
            tries to split them so that this column's lines stay whole.
        give: how readily the column gives up width when the table must narrow: the column
            whose width times ``give`` is largest narrows first (below 1: wrap others first).
    """

    header: str
    justify: Literal["left", "right"] = "right"
    wrap: bool = False
    breaks: str = ""
    drop: int = 0
    loose: bool = False
    give: float = 1.0


@dataclass(frozen=True)
class Style:
    """The table's frame: box, outer edge and padding at the edges (Rich's ``Table`` options)."""

    box: boxes.Box | None = boxes.HEAVY_HEAD
    show_edge: bool = True
    pad_edge: bool = True

    def chrome(self, n: int) -> int:
        """Columns taken by borders and padding around ``n`` columns of content."""
        borders = (n - 1 + (2 if self.show_edge else 0)) if self.box else 0
        return borders + 2 * n - (0 if self.pad_edge else 2)


BOXED = Style()
"""Rich's default frame."""
PLAIN = Style(box=None, show_edge=False, pad_edge=False)
"""No lines at all: columns separated by two spaces."""
OPEN = Style(show_edge=False, pad_edge=False)
"""Header rule and column lines, no outer frame."""


def pieces(line: str, breaks: str = "") -> list[tuple[str, str]]:
    """The pieces a line may break between, each with the gap before it ("" after a ``breaks`` character)."""
    out: list[tuple[str, str]] = []
    split = re.compile(f"[^{re.escape(breaks)}]*[{re.escape(breaks)}]|[^{re.escape(breaks)}]+") if breaks else None
    for found in re.finditer(r"(\s*)(\S+)", line):
        parts = split.findall(found.group(2)) if split else [found.group(2)]
        out += [(part, "" if i else found.group(1)) for i, part in enumerate(parts)]
    return out


def wrap(text: str, width: int, breaks: str = "") -> str:
    """``text`` with every line longer than ``width`` broken at spaces or after ``breaks``, never inside a word.

    Spaces between the pieces of a line are kept as written, except where the line breaks.
    """
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        current = ""
        for piece, gap in pieces(line, breaks):
            if current and len(current) + len(gap) + len(piece) > width:
                lines.append(current)
                current = piece
            else:
                current += (gap if current else "") + piece
        lines.append(current)
    return "\n".join(lines)


def _longest_piece(text: str, breaks: str) -> int:
    return max((len(p) for line in text.split("\n") for p, _ in pieces(line, breaks)), default=0)


def _longest_line(text: str) -> int:
    return max((len(line) for line in text.split("\n")), default=0)


def _cell(cell: Cell, short: bool) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return cell if isinstance(cell, str) else cell.short if short else cell.full


def _measure(col: Col, cells: list[str], tight: bool = True) -> tuple[int, int, int]:
    """(narrowest, natural, cells') width of a column.

    The narrowest is its longest unbreakable piece (a ``loose`` column's longest line, unless
    ``tight``), the natural its longest line, header included, and the last its cells' longest
    line: narrowing the column down to that only wraps the header.
    """
    lines = max([0, *(_longest_line(c) for c in cells)])
    if col.loose and not tight:
        whole = max(_longest_line(col.header), lines)
        return whole, whole, lines
    least = _longest_piece(col.header, col.breaks)
    for cell in cells:
        least = max(least, _longest_piece(cell, col.breaks) if col.wrap else _longest_line(cell))
    natural = max(_longest_line(col.header), least, lines)
    return max(least, 1), max(natural, 1), lines


def _widths(measured: list[tuple[int, int, int]], room: int, give: list[float], text: list[bool]) -> list[int] | None:
    """Column widths summing to at most ``room``, no column below its narrowest; None if impossible.

    Starting from the natural widths, a text column's header longer than its cells wraps first,
    down to their width; then the widest column that can still give (its width weighted by
    ``give``) is narrowed, one character at a time, so long text wraps before short headers do.
    """
    mins = [m for m, _, _ in measured]
    if sum(mins) > room:
        return None
    widths = [n for _, n, _ in measured]
    floors = [max(m, c) if t else n for (m, n, c), t in zip(measured, text, strict=True)]
    for _ in range(sum(widths) - room):
        free = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if free:
            i = max(free, key=lambda i: widths[i] - floors[i])
        else:
            i = max((i for i in range(len(widths)) if widths[i] > mins[i]), key=lambda i: widths[i] * give[i])
        widths[i] -= 1
    return widths


@dataclass(frozen=True)
class _Layout:
    columns: list[int]  # indices of the columns shown
    widths: list[int]
    short: bool  # numbers abbreviated


def _try(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], shown: list[int], short: bool, room: int,
         style: Style, tight: bool = True) -> _Layout | None:  # fmt: skip
    measured = [_measure(cols[i], [_cell(row[i], short) for row in rows], tight) for i in shown]
    text = [cols[i].wrap for i in shown]
    widths = _widths(measured, room - style.chrome(len(shown)), [cols[i].give for i in shown], text)
    return _Layout(shown, widths, short) if widths is not None else None


def _fits(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], shown: list[int], width: int, style: Style,
          tight: bool = True) -> _Layout | None:  # fmt: skip
    """The layout of these columns in full, else with numbers abbreviated; None if neither fits."""
    return _try(cols, rows, shown, False, width, style, tight) or _try(cols, rows, shown, True, width, style, tight)


def _table(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], layout: _Layout, style: Style, title: str,
           caption: str, dropped: Sequence[str] = ()) -> Table:  # fmt: skip
    """The Rich table of ``layout``; its caption says which columns were dropped and whether numbers are abbreviated."""
    shown = [row[i] for row in rows for i in layout.columns]
    abbreviated = layout.short and any(isinstance(c, Num) and c.short != c.full for c in shown)
    notes = [f"not shown at this width: {', '.join(dropped)}"] if dropped else []
    caption = "; ".join([*notes, *([ABBREVIATED] if abbreviated else []), *([caption] if caption else [])])
    table = Table(
        title=escape(title) if title else None, title_justify="left", caption=escape(caption) if caption else None,
        caption_justify="left", box=style.box, show_edge=style.show_edge, pad_edge=style.pad_edge,
    )  # fmt: skip
    for i, width in zip(layout.columns, layout.widths, strict=True):
        col = cols[i]
        table.add_column(escape(wrap(col.header, width, col.breaks)), justify=col.justify, width=width,
                         overflow="fold")  # fmt: skip
    for row in rows:
        table.add_row(*(_shown(cols[i], row[i], layout.short, w) for i, w in zip(layout.columns, layout.widths,
                                                                                   strict=True)))  # fmt: skip
    return table


def _shown(col: Col, cell: Cell, short: bool, width: int) -> RenderableType:
    if isinstance(cell, Text):
        return cell
    text = _cell(cell, short)
    return escape(wrap(text, width, col.breaks) if col.wrap else text)


ABBREVIATED = "k = thousand, M = million"


def fit_table(
    cols: Sequence[Col],
    rows: Sequence[Sequence[Cell]],
    title: str = "",
    caption: str = "",
    style: Style = BOXED,
    keys: int | None = None,
    unit: str = "columns",
) -> Fit:
    """A table laid out for the width it is rendered at (see the module's docstring).

    Args:
        cols: the columns, in order.
        rows: one cell per column in each row.
        title: shown above the (first) table.
        caption: shown below it, after what the layout says it did.
        style: the table's frame.
        keys: split instead of dropping: the first ``keys`` columns are repeated in each table and
            the others spread over as many tables as the width needs. None: drop columns.
        unit: what the split columns are called in the captions ("metrics 1-4 of 8").
    """

    def build(width: int) -> RenderableType:
        every = list(range(len(cols)))
        if keys is not None:
            for tight in (False, True):
                layout = _fits(cols, rows, every, width, style, tight)
                if layout:
                    return _table(cols, rows, layout, style, title, caption)
                split = _split(cols, rows, keys, unit, width, style, title, caption, tight)
                if split:
                    return split
        layout = _fits(cols, rows, every, width, style)
        if layout:
            return _table(cols, rows, layout, style, title, caption)
        shown = every
        for level in sorted({c.drop for c in cols if c.drop}, reverse=True):
            shown = [i for i in shown if cols[i].drop != level]
            layout = _try(cols, rows, shown, True, width, style)
            if layout:
                dropped = [cols[i].header for i in every if i not in shown]
                return _table(cols, rows, layout, style, title, caption, dropped)
        dropped = [cols[i].header for i in every if i not in shown]
        return _table(cols, rows, _narrowest(cols, rows, shown), style, title, caption, dropped)

    return Fit(build)


def _narrowest(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], shown: list[int]) -> _Layout:
    """Every column at its minimum, numbers abbreviated: for widths far below 80 columns, where Rich folds the rest."""
    measured = [_measure(cols[i], [_cell(row[i], True) for row in rows]) for i in shown]
    return _Layout(shown, [m for m, _, _ in measured], True)


def _split(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], keys: int, unit: str, width: int, style: Style,
           title: str, caption: str, tight: bool) -> RenderableType | None:  # fmt: skip
    """The key columns, then as many of the others as fit, in as many tables as it takes.

    None if one of the others does not fit beside the keys on its own, unless ``tight`` (then it
    is squeezed, and Rich folds what still does not fit).
    """
    head, others = list(range(keys)), list(range(keys, len(cols)))
    chunks: list[list[int]] = []
    rest = others
    while rest:
        take = 1
        while take < len(rest) and _fits(cols, rows, head + rest[: take + 1], width, style, tight):
            take += 1
        if not tight and not _fits(cols, rows, head + rest[:take], width, style, tight):
            return None
        chunks.append(rest[:take])
        rest = rest[take:]
    even = _even(others, len(chunks))
    if all(_fits(cols, rows, head + part, width, style, tight) for part in even):
        chunks = even  # as many tables, more evenly filled
    tables: list[RenderableType] = []
    done = 0
    for part in chunks:
        layout = _fits(cols, rows, head + part, width, style, tight) or _narrowest(cols, rows, head + part)
        name = unit if len(part) > 1 else unit.removesuffix("s")
        span = f"{done + 1}-{done + len(part)}" if len(part) > 1 else f"{done + 1}"
        done += len(part)
        more = done < len(others)
        notes = [f"{name} {span} of {len(others)}", *(["continued below"] if more else [caption] if caption else [])]
        tables.append(_table(cols, rows, layout, style, "" if tables else title, "; ".join(notes)))
    return Group(*tables)


def _even(items: list[int], parts: int) -> list[list[int]]:
    """``items`` in ``parts`` consecutive runs whose sizes differ by at most one."""
    runs, start = [], 0
    for i in range(parts):
        size = len(items) // parts + (i < len(items) % parts)
        runs.append(items[start : start + size])
        start += size
    return runs


def hanging(text: str, width: int, indent: int = 4) -> str:
    """``text`` wrapped at spaces to ``width``, each continuation line indented by ``indent``."""
    lines = []
    for line in text.split("\n"):
        lead = len(line) - len(line.lstrip(" "))
        lines += textwrap.wrap(line, width=max(width, 1), subsequent_indent=" " * (lead + indent),
                               break_long_words=False, break_on_hyphens=False) or [""]  # fmt: skip
    return "\n".join(lines)


def wrapped(text: str, indent: int = 4, style: str = "") -> Fit:
    """Plain text wrapped at spaces to the width it is rendered at, continuation lines indented."""
    return Fit(lambda width: Text(hanging(text, width, indent), style=style))
