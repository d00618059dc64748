"""Charts of a report (`wood report`) and of a sweep (`wood sweep`), from the
JSON those commands print: in the terminal with plotext (the library
`textual-plotext` wraps, so the app's charts can share it), and as files
with matplotlib (Agg: PNG for a screen, SVG for a paper).

A report: the mean trade price of each good over the rounds, each model's
mean net worth and mood over the rounds, and per-model bars (valid
decisions, goods held in rounds of needs, net worth change, shorts). A
sweep: per metric, one bar per roster (per roster and model for a model's
metric): the mean over seeds with its 95% interval. Both libraries are imported when a chart is drawn, not before.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import sys
from pathlib import Path

from engine.errors import WoodError
from engine.metrics import decimals
from engine.sanitise import cells, clean_text, first_cells, pad_cells, shown_path
from engine.sweep import ECONOMY, PER_MODEL, dig, fmt, within
from wood_tui.options import kind_of, no_folder_at, not_a_directory

MARKERS = ("•", "+", "x", "o", "*", "#", "@", "%")
# each line's colour in a coloured terminal chart, with its marker, named so that the legend (drawn here, not by
# plotext) is coloured to match: plotext's own sequence had red and magenta (which the dark theme draws as red: a
# line that went wrong), black (unseen on a dark terminal) and names it has no colour for (yellow, gold: uncoloured)
COLOURS = ("blue+", "green+", "cyan+", "orange+", "gray+", "blue", "green", "cyan", "orange", "white")
FORMATS = ("png", "svg")
REPORT_CHARTS = ("prices", "worth", "mood", "models")  # the files `report_files` writes, each in every format
SWEEP_CHARTS = ("sweep",)  # ... and `sweep_files`
# (key in a model's dict, label, scale, what the scaled value can be): the per-model bars of a report
MODEL_BARS = (
    (("valid_share",), "valid decisions, %", 100, (0.0, 100.0)),
    (("stock_rounds",), "goods held, in rounds of needs", 1, (-math.inf, math.inf)),
    (("worth", "change"), "net worth change per creature", 1, (-math.inf, math.inf)),
    (("shorts", "per_100_rounds"), "shorts per 100 rounds", 1, (-math.inf, math.inf)),
)
# the sweep's metrics charted in the terminal (the files chart them all)
SWEEP_HEADLINES = ("needs met (share)", "wealth Gini at the end", "valid decisions (share)",
                   "goods held, in rounds of needs (hoarding)", "shorts per 100 rounds (speculation)",
                   "trades on live tips per 100 rounds", "net worth change per creature")


def check_dir(path: str, flag: str = "--plots", *, make: bool = True, made: list[Path] | None = None) -> Path:
    """`FLAG DIR` (an output folder: `--plots`, the sweep's `--out`): one that
    exists or can be made, and can be written; else one line naming the flag.
    `make=False` checks without making it (a command with two such flags
    checks both before it makes either: a usage error leaves no folder).
    `made`: the folders it makes are added to it, outermost first, so that
    `unmake` can take them away again if what was to go in them fails (or is
    stopped)."""
    from engine.stops import deferred

    p = Path(path)
    if no_folder_at(p):
        raise WoodError(f"{flag} {not_a_directory(p)}")
    if not make and not p.exists():  # where mkdir would begin: the nearest folder above it that is there
        above = next((a for a in p.absolute().parents if a.exists()), Path("/"))
        if not above.is_dir():
            raise WoodError(f"cannot make the {flag} directory {shown_path(p)}: {not_a_directory(above)}")
        if not os.access(above, os.W_OK | os.X_OK):
            raise WoodError(f"cannot make the {flag} directory {shown_path(p)}: {shown_path(above)} is not writable")
        return p
    missing = []  # the folders to make, innermost first
    for q in (p, *p.absolute().parents):
        if q.exists() or q.is_symlink():  # a link to nowhere: mkdir says so
            break
        missing.append(q)
    mine = made if made is not None else []  # each noted as it is made: a stop (Ctrl-C) still finds it there
    start = len(mine)
    try:
        for q in reversed(missing):
            try:
                with deferred():  # a stop lands after the folder is noted as ours, never between
                    q.mkdir()
                    mine.append(q)
            except FileExistsError:
                if not q.is_dir():
                    raise
                # made meanwhile by another, or a name such as `new/..` for one that is there: not ours
        if not missing:
            p.mkdir(parents=True, exist_ok=True)  # there already (or it says why not, as before)
        if not os.access(p, os.W_OK | os.X_OK):
            raise WoodError(f"{flag} {shown_path(p)}: the directory is not writable")
    except BaseException as e:  # a folder refused, or a stop (Ctrl-C, SIGTERM) while they are made: none is left
        unmake(mine[start:])
        del mine[start:]
        if isinstance(e, OSError):
            raise WoodError(f"cannot make the {flag} directory {shown_path(p)}: {e.strerror or e}") from None
        raise
    return p


def _not_a_chart_file(path: Path) -> str | None:
    """Why a chart cannot be written at `path`: something other than a file is
    there (a folder, a pipe, a device), which the chart, renamed into place,
    would replace, or the rename fail. None: nothing is, or a file."""
    if path.is_dir() or (path.exists() and not path.is_file()):
        return f"{shown_path(path)} is {kind_of(path)}, not a file; the charts are written as plain files"
    return None


def check_charts(folder: Path, stems: tuple[str, ...], flag: str = "--plots") -> None:
    """Refuse, before a report is printed or a sweep played, a folder where a
    chart's name (`stems`, in every format) holds something other than a file:
    the line had come only after the report or the sweep, which then ended in
    an error."""
    for stem in stems:
        for suffix in FORMATS:
            if (why := _not_a_chart_file(folder / f"{stem}.{suffix}")) is not None:
                raise WoodError(f"{flag} {shown_path(folder)}: {why}")


def unmake(made: list[Path]) -> None:
    """Take away the folders `check_dir` made (`made`, outermost first),
    innermost first: each only if it is empty, so nothing anyone put in
    one meanwhile goes, nor a folder that was there before."""
    from engine.stops import deferred

    with deferred():  # a Ctrl-C does not stop the clearing half way
        for q in reversed(made):
            with contextlib.suppress(OSError):
                q.rmdir()


def _model_bars(models: dict) -> list[tuple[str, list[str], list[float], tuple[float, float]]]:
    out = []
    for keys, label, scale, bounds in MODEL_BARS:
        names = [n for n, m in models.items() if dig(m, keys) is not None]
        out.append((label, names, [dig(models[n], keys) * scale for n in names], bounds))
    return out


def _price_series(d: dict) -> dict[str, tuple[list[int], list[float]]]:
    return {g: ([int(r) for r in s], list(s.values())) for g, s in d["price_by_good_by_round"].items() if s}


def _model_series(d: dict, key: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per model, (rounds, values): the rounds it decided in (`series_rounds`:
    a seat a person left to its autopilot moves between two), else from 1 on."""
    return {n: (m.get("series_rounds") or list(range(1, len(m[key]) + 1)), m[key])
            for n, m in d["models"].items() if m[key]}


# ---- the terminal ---------------------------------------------------------------
def coloured(stream) -> bool:
    """Whether charts written to `stream` are coloured: on a terminal, unless
    NO_COLOR is set (no-color.org) or the terminal is TERM=dumb (Emacs' shell,
    a CI log: escape codes show as `^[[31m`). A stream that is closed, or None
    (`>&-`: Python found it closed), is no terminal."""
    return (stream is not None and not stream.closed and stream.isatty() and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM") != "dumb")


class _Terminal:
    """plotext, drawn to a string: coloured on a terminal, plain text otherwise."""

    def __init__(self, width: int | None = None, colour: bool | None = None):
        import plotext

        self.plt = plotext
        self.width = width or min(110, shutil.get_terminal_size((100, 30)).columns)
        self.colour = coloured(sys.stdout) if colour is None else colour

    def _start(self, title: str, height: int) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.plotsize(self.width, height)
        plt.theme("pro" if self.colour else "clear")
        plt.title(title)

    def _done(self, below: list[str]) -> str:
        """The chart drawn, `below` its lines (a legend), then a blank line."""
        text = self.plt.build()
        text = text if self.colour else self.plt.uncolorize(text)
        return text.rstrip("\n") + "\n" + "".join(line + "\n" for line in below) + "\n"

    def lines(self, title: str, series: dict[str, tuple[list, list]], xlabel: str = "round") -> str:
        """A line per series, in its marker and colour; the legend under the
        chart (`legend_lines`: plotext's own, in the chart, put a letter a
        terminal shows two cells wide in one of its cells, so a line naming a
        good or a model in wide letters pushed the chart's frame out of line)."""
        if not series:
            return f"{title}: nothing to draw\n"
        self._start(title, 18)
        for i, (xs, ys) in enumerate(series.values()):
            self.plt.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], color=COLOURS[i % len(COLOURS)])
        self.plt.xlabel(xlabel)
        return self._done(legend_lines(list(series), self.width, self.plt.colorize if self.colour else None))

    def bars(self, title: str, names: list[str], values: list[float],
             bounds: tuple[float, float] = (-math.inf, math.inf)) -> str:
        return text_bars(title, names, values, width=self.width, bounds=bounds)


def legend_lines(names: list[str], width: int, paint=None) -> list[str]:
    """The legend of a chart of lines: each name after its line's marker, two
    of it (`•• acorns`), the names two spaces apart, wrapped by terminal cells
    so that no line is wider than `width` (a name too wide for a line of its
    own cut to fit, `…` at its end). `paint(text, colour)`: colours each
    marker as its line is coloured (plotext's `colorize`); None: plain text.
    A name is drawn inert (`clean_text`): a model's, as a save made by hand
    holds it, had reached the terminal with its escape sequences."""
    names = [clean_text(n) for n in names]
    out: list[str] = []
    line, used = "", 0
    for i, name in enumerate(names):
        marker = MARKERS[i % len(MARKERS)] * 2
        room = width - 2 - cells(marker) - 1  # the line's indent, the marker and a space
        shown = name if cells(name) <= room else first_cells(name, max(0, room - 1)) + "…"
        size = cells(marker) + 1 + cells(shown)
        if line and used + 2 + size > width:
            out.append(line)
            line, used = "", 0
        mark = paint(marker, COLOURS[i % len(COLOURS)]) if paint else marker
        line, used = (line + "  " if line else "  ") + f"{mark} {shown}", used + 2 + size
    return out + [line] if line else out


EIGHTHS = " ▏▎▍▌▋▊▉"  # a cell filled from the left, by eighths


def eighths_bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of `value` out of `top`, `width` cells when full, in
    eighths of a cell: 96.7 of 100 in 10 cells is nine and ▋, not ten."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(width * 8 * min(value, top) / top)
    return "█" * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else "")


def text_bars(title: str, names: list[str], values: list[float], *, width: int = 100,
              bounds: tuple[float, float] = (-math.inf, math.inf)) -> str:
    """Horizontal bars, one line each (label, bar, value); a bar's length is
    the value's size against the largest, in eighths of a cell; a negative
    value's bar is shaded, in whole cells (a shade has no eighths).
    `bounds`: what the values can be (a share: 0..1), none shown as a bound it is short of.
    Each label is drawn inert (`clean_text`), as `legend_lines` draws a name."""
    if not names:
        return f"{title}: nothing to draw\n"
    names = [clean_text(n) for n in names]
    label_w = max(cells(n) for n in names)
    shown = [_num(v, bounds) for v in values]
    room = max(10, width - label_w - max(len(x) for x in shown) - 4)
    top = max(abs(v) for v in values) or 1
    out = [title]
    for name, v, x in zip(names, values, shown):
        bar = eighths_bar(v, top, room) if v >= 0 else "░" * round(room * abs(v) / top)
        out.append(f"  {pad_cells(name, label_w)} {bar} {x}")
    return "\n".join(out) + "\n"


def _num(v: float, bounds: tuple[float, float]) -> str:
    places = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2
    return decimals(v, places, top=bounds[1], bottom=bounds[0])


def report_charts(d: dict, *, width: int | None = None, colour: bool | None = None) -> str:
    """The report's charts as text for a terminal."""
    t = _Terminal(width, colour)
    out = [t.lines("mean trade price per good", _price_series(d)),
           t.lines("mean net worth per creature, by model", _model_series(d, "worth_by_round")),
           t.lines("mean mood per creature, by model", _model_series(d, "mood_by_round"))]
    out += [t.bars(label, names, values, bounds) for label, names, values, bounds in _model_bars(d["models"])]
    return "\n".join(out)


def sweep_charts(table: list[dict], labels: list[str], *, width: int | None = None,
                 colour: bool | None = None) -> str:
    """Bars of the sweep's headline metrics: per roster (and model), the mean
    over seeds, its 95% interval in the label."""
    t = _Terminal(width, colour)
    metric = {label: key for key, label, _ in (*ECONOMY, *PER_MODEL)}
    out = []
    for title, bars in sweep_groups(table, labels):
        if title.split(" · ")[0] in SWEEP_HEADLINES:
            b = within(metric[title])
            out.append(t.bars(title, [f"{name} [{fmt(c['lo'], b)}, {fmt(c['hi'], b)}]" if c["lo"] is not None else
                                      f"{name} [1 run]" for name, c in bars],
                              [c["mean"] for _, c in bars], b))
    return "\n".join(out)


def sweep_groups(table: list[dict], labels: list[str]) -> list[tuple[str, list[tuple[str, dict]]]]:
    """The table as charts: one per economy metric (a bar per roster) and
    one per model metric (a bar per roster and model)."""
    groups: dict[str, list[tuple[str, dict]]] = {}
    for row in table:
        title, _, model = row["label"].partition(" · ")
        for lab in labels:
            c = row["by_roster"].get(lab)
            if c and c["n"]:
                groups.setdefault(title, []).append((f"{lab} · {model}" if model else lab, c))
    return list(groups.items())


# ---- files ----------------------------------------------------------------------
@contextlib.contextmanager
def _whole(folder: Path, written: list[Path] | None = None):
    """The chart files of one report or sweep in `folder`, all or none: each
    figure is saved beside its name (`parts`: (temporary, final) pairs) and
    they are renamed into place together at the end. A chart that cannot be
    written (a full disk, a folder where a file goes), or a stop (Ctrl-C,
    SIGTERM) part way, leaves none of them, and the files of an earlier report
    there as they were; another wood process writing charts into `folder`
    meanwhile refuses this one (`folder_held`: never a mix of two reports'
    charts). `written`: the final paths, as each is renamed into place."""
    from engine.ledger import folder_held
    from engine.stops import deferred

    parts: list[tuple[Path, Path]] = []
    written = [] if written is None else written
    try:
        with folder_held(folder, "--plots"):
            yield parts, written
            with deferred():  # a stop while they are renamed lands after the last
                for part, final in parts:
                    try:
                        part.replace(final)
                    except OSError as e:
                        raise WoodError(f"cannot write the chart {shown_path(final)}: {e.strerror or e}" + (
                            f" ({len(written)} of the {len(parts)} chart files were written before it)" if written
                            else "")) from None
                    written.append(final)
    except BaseException:
        with deferred():  # a second Ctrl-C does not stop the clearing half way
            for part, _ in parts[len(written):]:
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
        raise


def _matplotlib():
    """matplotlib, drawing to files (Agg), with a folder of its own for its
    config and cache where the one it would use cannot be written (`HOME`
    read-only, or /proc): it had said so in two warnings around the charts'
    line, and made its own in /tmp. That folder is private to this process
    and goes when it ends; an MPLCONFIGDIR the user set is matplotlib's to
    use as it is."""
    if "matplotlib" not in sys.modules and not os.environ.get("MPLCONFIGDIR") and not _mpl_dirs_writable():
        import atexit
        import tempfile

        with contextlib.suppress(OSError):  # no temporary folder to be had: matplotlib says so, as before
            private = tempfile.mkdtemp(prefix="wood-matplotlib-")
            os.environ["MPLCONFIGDIR"] = private
            atexit.register(shutil.rmtree, private, True)
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


def _mpl_dirs_writable() -> bool:
    """Whether the folders matplotlib keeps its config and cache in (with no
    MPLCONFIGDIR) are there, or can be made, and can be written: as
    matplotlib finds them, where it warns when they cannot."""
    try:
        if sys.platform.startswith(("linux", "freebsd")):
            dirs = [Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config", "matplotlib"),
                    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "matplotlib")]
        elif sys.platform == "win32":
            return True  # %LOCALAPPDATA%, or the home's: matplotlib's to find
        else:
            dirs = [Path.home() / ".matplotlib"]
    except RuntimeError:  # no home to be found
        return False
    for d in dirs:
        try:
            d = d.resolve()
            d.mkdir(parents=True, exist_ok=True)  # as matplotlib would
        except OSError:
            return False
        if not (d.is_dir() and os.access(d, os.W_OK)):
            return False
    return True


_GLYPH = re.compile(r"Glyph (\d+) .* missing from font")  # matplotlib's words: Glyph 26647 (\N{...}) missing from font(s) ...


@contextlib.contextmanager
def _figure(path_stem: Path, parts: list[tuple[Path, Path]], *, nrows: int = 1, ncols: int = 1, size=(8, 4.5)):
    _matplotlib()
    import matplotlib.pyplot as pyplot

    fig, axes = pyplot.subplots(nrows, ncols, figsize=size, squeeze=False)
    try:
        yield fig, [ax for row in axes for ax in row]
        _save(fig, path_stem, parts)
    finally:
        pyplot.close(fig)


def _save(fig, path_stem: Path, parts: list[tuple[Path, Path]]) -> None:
    from engine.ledger import part_file

    fig.tight_layout()
    for kind in FORMATS:
        path = path_stem.with_suffix(f".{kind}")
        if (why := _not_a_chart_file(path)) is not None:  # made there since `check_charts`
            raise WoodError(f"cannot write the chart: {why}")
        fd = part_file(path, parts)
        try:
            with os.fdopen(fd, "wb") as fh:
                fig.savefig(fh, format=kind, dpi=150, metadata={"Date": None} if kind == "svg" else None)
        except OSError as e:
            raise WoodError(f"cannot write the chart {shown_path(path)}: {e.strerror or e}") from None


@contextlib.contextmanager
def _glyphs_missing(folder: Path):
    """matplotlib's warnings that its font has no glyph for a letter of a name
    (a good or a model named in wide letters: 栗) as one note line once the
    charts in `folder` are written, not two warnings of several lines each,
    with its source's paths, amid the output; any other warning as it came,
    written or not."""
    import warnings

    missing: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for w in caught:
            m = _GLYPH.search(str(w.message))
            if m:
                missing.append(chr(int(m[1])))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:  # the charts were written (a failure writes none, and says so)
        letters = "".join(dict.fromkeys(missing))
        print(f"note: the charts' font has no letter for {clean_text(letters, 20)}: the charts in "
              f"{shown_path(folder)} draw {'it' if len(letters) == 1 else 'them'} as boxes", file=sys.stderr)


def _line_file(stem: Path, parts: list[tuple[Path, Path]], title: str, ylabel: str, series: dict) -> None:
    with _figure(stem, parts) as (_, (ax,)):
        for name, (xs, ys) in series.items():
            ax.plot(xs, ys, label=name, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel)
        if series:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)


def report_files(d: dict, folder: Path, written: list[Path] | None = None) -> list[Path]:
    """The report's charts as PNG and SVG files in `folder`, all or none; the
    paths written (also added to `written` as they are: a stop at the end still
    finds them written)."""
    with _glyphs_missing(folder), _svg_fixed(), _whole(folder, written) as (parts, written):
        _line_file(folder / "prices", parts, "Mean trade price per good", "coins per unit", _price_series(d))
        _line_file(folder / "worth", parts, "Mean net worth per creature, by model", "coins",
                   _model_series(d, "worth_by_round"))
        _line_file(folder / "mood", parts, "Mean mood per creature, by model", "mood (0-100)",
                   _model_series(d, "mood_by_round"))
        bars = _model_bars(d["models"])
        with _figure(folder / "models", parts, nrows=2, ncols=2, size=(10, 6.5)) as (_, axes):
            for ax, (label, names, values, _) in zip(axes, bars):
                ax.barh(names, values, color="tab:green")
                ax.set_title(label, fontsize="medium")
                ax.grid(axis="x", alpha=0.3)
    return written


def sweep_files(table: list[dict], labels: list[str], folder: Path, written: list[Path] | None = None) -> list[Path]:
    """Every metric of the sweep, a chart each: per roster (and model), the
    mean with its 95% interval, in `folder`/sweep.png and .svg (both or
    neither; `written` as in `report_files`)."""
    groups = sweep_groups(table, labels)
    if not groups:
        return []
    ncols = 3
    nrows = -(-len(groups) // ncols)
    with _glyphs_missing(folder), _svg_fixed(), _whole(folder, written) as (parts, written), _figure(folder / SWEEP_CHARTS[0], parts, nrows=nrows, ncols=ncols,
                               size=(15, 2.2 + 0.25 * max(len(c) for _, c in groups)) if nrows == 1 else
                               (15, nrows * (1.2 + 0.25 * max(len(c) for _, c in groups)))) as (_, axes):
        for ax, (title, cells) in zip(axes, groups):
            names = [n for n, _ in cells][::-1]
            means = [c["mean"] for _, c in cells][::-1]
            err = [[c["mean"] - c["lo"] if c["lo"] is not None else 0 for _, c in cells][::-1],
                   [c["hi"] - c["mean"] if c["hi"] is not None else 0 for _, c in cells][::-1]]
            ax.barh(names, means, xerr=err, capsize=3, color="tab:blue")
            ax.set_title(title, fontsize="small")
            ax.tick_params(labelsize="x-small")
            ax.grid(axis="x", alpha=0.3)
        for ax in axes[len(groups):]:
            ax.set_visible(False)
    return written


@contextlib.contextmanager
def _svg_fixed():
    """The same SVG bytes for the same data (no random ids, no date), and
    labels drawn as written (a `$` in a roster's or model's name is not math)."""
    matplotlib = _matplotlib()
    with matplotlib.rc_context({"svg.hashsalt": "thousand-token-wood", "text.parse_math": False}):
        yield
