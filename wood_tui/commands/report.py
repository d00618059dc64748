"""`wood report RUN.db`: the economy's health for a saved run (needs met,
spoilage, prices and their answer to shocks, hoards, wealth, credit, fines,
rejections) and how each model traded in it (decisions, rejections by
reason, call latency, tokens and cost, action mix, hoarding, trades on tips,
loans, net worth and mood), rebuilt from the ledger's recorded actions;
`--json` for the same as one JSON object; `--plot` draws charts in the
terminal, `--plots DIR` writes them as PNG and SVG files. The save is opened
read-only."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.flags import bounded_decimal
from wood_tui.options import dir_text, file_text


PRICE_MAX = 1_000_000  # per GPU-hour or per million tokens: past any real price, short enough to print


_price = bounded_decimal(0, PRICE_MAX, f"a price from 0 to {PRICE_MAX:,}")


def add_price_flags(p) -> None:
    """The cost estimate's prices (`wood report` and `wood sweep`)."""
    p.add_argument("--gpu-hour-price", type=_price, metavar="PRICE",
                   help="what a GPU-hour costs: estimates each model's cost per 1,000 decisions from its calls' "
                        "summed latency")
    p.add_argument("--mtok-price", type=_price, metavar="PRICE",
                   help="what a million tokens (prompt and completion) cost: estimates each model's cost per "
                        "1,000 decisions from its calls' tokens")


def add_plot_flags(p) -> None:
    p.add_argument("--plot", action="store_true",
                   help="draw the charts in the terminal after the text (with --json, on stderr: stdout stays "
                        "one JSON object)")
    p.add_argument("--plots", metavar="DIR", type=dir_text,
                   help="write the charts as PNG and SVG files into DIR (made if missing)")


def add_arguments(p) -> None:
    p.add_argument("path", metavar="RUN.db", type=file_text, help="a save file written by --save")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    add_price_flags(p)
    add_plot_flags(p)


def prices_of(args):
    from engine.behaviour import Prices

    return Prices(gpu_hour=args.gpu_hour_price, mtok=args.mtok_price)


def unused_prices(args, models: dict) -> str:
    """What to say of a price given for a run whose models made no call (all
    scripted, or played by hand): nothing to price, so no cost is shown. ""
    when no price is given, or a call was made."""
    given = [f for f, price in (("--gpu-hour-price", args.gpu_hour_price), ("--mtok-price", args.mtok_price))
             if price is not None]
    if not given or any(m["calls"] is not None for m in models.values()):
        return ""
    return f"{' and '.join(given)} not used: no model call is recorded"


def run(args) -> int:
    from engine.stops import exit_status, interrupted

    at = _At()
    try:
        return _run(args, at)
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM or SIGHUP: one line saying what was done
        print(f"wood: {interrupted(e)}: {at.said(args)}", file=sys.stderr)
        return exit_status(e)


class _At:
    """How far a report got, for the line a stop ends it with."""

    def __init__(self):
        self.shown = False  # the whole text (or JSON) was printed
        self.drawn = False  # and the terminal's charts (--plot)
        self.charts: list = []  # the chart files written into --plots: all of them, or none

    def said(self, args) -> str:
        from engine.sanitise import shown_path

        said = ["the report above is whole" if self.shown else "stopped before the report was whole"]
        if self.shown and args.plot and not self.drawn:
            said.append("its charts in the terminal are not")
        if args.plots is not None:
            said.append(f"{len(self.charts)} chart files written to {shown_path(args.plots)}" if self.charts else
                        f"no chart file written to {shown_path(args.plots)}")
        return "; ".join(said)


def _run(args, at: _At) -> int:
    from engine.errors import WoodError
    from engine.report import report_of
    from engine.sanitise import shown_path
    from engine.world import load_world

    from wood_tui import plots

    report = report_of(args.path, load_world(), prices=prices_of(args))  # a bad save fails before a folder is made
    made: list = []  # the folders --plots made: taken away again if its charts cannot be written
    try:
        plots_dir = plots.check_dir(args.plots, made=made) if args.plots is not None else None
        if plots_dir is not None and (chart := _over_the_save(args.path, plots_dir)) is not None:
            raise WoodError(f"--plots {shown_path(args.plots)}: its chart {shown_path(chart.name)} would be written over "
                            f"the save it reads, {shown_path(args.path)}; choose another folder for the charts")
        if plots_dir is not None:
            plots.check_charts(plots_dir, plots.REPORT_CHARTS)
        return _shown(args, at, report, plots_dir)
    except BaseException:  # a full disk, a folder where a chart goes, a stop (Ctrl-C, SIGTERM): no empty
        plots.unmake(made)  # folder of ours is left behind (one holding the charts, or anything, stays)
        raise


def _over_the_save(save: str, folder: Path) -> Path | None:
    """The chart in `folder` that is the save read, or one of its companion
    files: renamed into place, it would put an end to the save. (A link
    there is replaced, not written through, and a hard link is another name
    of it.) None: none is."""
    from engine.ledger import COMPANIONS, beside

    from wood_tui import plots

    real = beside(save)  # the file, where `save` is a link to it
    kept = {real, *(Path(f"{real}{x}") for x in COMPANIONS)}
    return next((chart for stem in plots.REPORT_CHARTS for fmt in plots.FORMATS
                 if (chart := folder.resolve() / f"{stem}.{fmt}") in kept), None)


def _shown(args, at: _At, report, plots_dir) -> int:
    from engine.errors import WoodError
    from engine.sanitise import shown_path

    from wood_tui import plots

    d = report.to_dict()
    if args.json:
        print(json.dumps(d, sort_keys=True))
    else:
        print(f"report of {shown_path(args.path)}")  # a user's path as given, escaped where it must be
        for line in report.lines():
            print(line)
    at.shown = True
    if note := unused_prices(args, d["models"]):
        print(f"note: {note} in {shown_path(args.path)}", file=sys.stderr)
    if args.plot:  # beside --json, on stderr: stdout stays one JSON object
        charts_to = sys.stderr if args.json else sys.stdout
        print(plots.report_charts(d, colour=plots.coloured(charts_to)), end="", file=charts_to)
        at.drawn = True
    if plots_dir is not None:
        try:
            written = plots.report_files(d, plots_dir, at.charts)
        except OSError as e:  # what the charts' own lines do not name (matplotlib's, a temporary file's)
            raise WoodError(f"cannot write the charts into {shown_path(plots_dir)}: {e.strerror or e}") from None
        print(f"wrote {len(written)} chart files to {shown_path(plots_dir)}", file=sys.stderr)
    return 0
