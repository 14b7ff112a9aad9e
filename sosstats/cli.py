"""The ``sosstats`` command.

``sosstats reproduce`` runs every strand of the evaluation and writes one report (HTML and
Markdown, tables as CSV, figures as PNG, a run log); see :func:`sosstats.report.reproduce`.
``sosstats neighbours`` reproduces the Signs of Safety evaluation's 2015/16 table of pilots
against their statistical nearest neighbours from the real DfE data shipped with the package
(``--data simulated`` runs the same comparison on a simulated evaluation instead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sosstats._version import __version__

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sosstats",
        description="Statistics for evaluating children's social care programmes.")
    parser.add_argument("--version", action="version", version=f"sosstats {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    nb = sub.add_parser(
        "neighbours",
        help="pilot LAs against their statistical nearest neighbours",
        description="Compare the ten Signs of Safety pilot LAs with their DfE statistical "
                    "nearest neighbours, as the 2017 evaluation did for 2015/16, and print "
                    "the published figures beside the recomputed ones.")
    nb.add_argument("--data", choices=["real", "simulated"], default="real",
                    help="shipped DfE data (default) or a simulated evaluation")
    nb.add_argument("--model", choices=["2021", "2025", "closest-per-indicator"], default=None,
                    help="DfE statistical-neighbour model for every row (default: 2021, the "
                         "April 2021 list, closest in time to 2015/16); 'closest-per-indicator' "
                         "gives each row the list closest to the published figures, a labelled "
                         "sensitivity")
    nb.add_argument("--year", type=int, default=None,
                    help="year ending 31 March (default: 2016, i.e. 2015/16, for the real "
                         "data; the last simulated year for simulated data)")
    nb.add_argument("--k", type=int, default=10, help="neighbours per LA (default 10)")
    nb.add_argument("--draws", type=int, default=10_000,
                    help="randomization-inference draws (default 10,000; 0 skips it)")
    nb.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    nb.add_argument("--all-indicators", action="store_true",
                    help="also print the comparison on every rate and duration indicator")
    rp = sub.add_parser(
        "reproduce",
        help="run the whole evaluation and write one report",
        description="Run every strand of the evaluation in order (pilots vs neighbours on the "
                    "real DfE data; change, attrition, multilevel, value for money and survey "
                    "on a simulated evaluation, beside the simulator's truth) and write one "
                    "self-contained report: report.html, report.md, tables/*.csv, "
                    "figures/*.png and run.log.")
    rp.add_argument("--output", default="sosstats-report", metavar="DIR",
                    help="report folder (default ./sosstats-report); replaced only if it is a "
                         "previous sosstats report")
    rp.add_argument("--quick", action="store_true",
                    help="short chains, fewer draws and replicates (under a minute on two cores)")
    rp.add_argument("--seed", default="0", metavar="N", help="random seed (default 0)")
    rp.add_argument("--format", default="html,md", metavar="FORMATS",
                    help="html, md or html,md (default)")
    rp.add_argument("--strands", default=None, metavar="LIST",
                    help="comma-separated strands to run (default all: "
                         "neighbours,change,attrition,multilevel,vfm,survey)")
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


#: library argument names (as error messages quote them) -> the flag a CLI user typed
_FLAGS = {"`year`": "--year", "`years`": "--year", "`k`": "--k", "`n_draws`": "--draws",
          "n_draws=0": "--draws 0", "`rng`": "--seed", "`model`": "--model"}

WIDTH = 100


def _as_flags(text: str) -> str:
    for name, flag in _FLAGS.items():
        text = text.replace(name, flag)
    return text


def _error(message: str) -> None:
    import textwrap

    print(textwrap.fill(f"sosstats: error: {message}", width=WIDTH, subsequent_indent="  ",
                        break_on_hyphens=False), file=sys.stderr)


def _check_args(args: argparse.Namespace) -> str | None:
    """The first problem with the flags, in the flags' own words (None if all is well)."""
    if args.k < 1:
        return f"--k must be at least 1; got {args.k}."
    if args.draws < 0:
        return f"--draws must be 0 (skip randomization inference) or more; got {args.draws}."
    if args.data == "real" and args.k > 10:
        return (f"--k {args.k}: DfE's statistical-neighbour lists have 10 neighbours per LA; "
                "choose --k 10 or less.")
    if args.year is not None and args.data == "real":
        from sosstats.datasets.loaders import load_indicator_dictionary

        spans = load_indicator_dictionary()["years"].str.split("-")
        first = int(min(int(v[0]) for v in spans))
        last = int(max(int(v[-1]) for v in spans))
        if not first <= args.year <= last:
            return (f"--year {args.year}: no shipped data for that year; the data cover "
                    f"{first}-{last} (years ending 31 March: --year 2016 is 2015/16).")
    return None


def _run_neighbours(args: argparse.Namespace) -> int:
    import textwrap
    import warnings

    import pandas as pd

    from sosstats.errors import SosstatsWarning
    from sosstats.neighbours.reproduce import reproduce_2016, simulated_comparison

    problem = _check_args(args)
    if problem:
        _error(problem)
        return 2
    with warnings.catch_warnings(record=True) as caught, pd.option_context(
            "display.width", WIDTH, "display.max_columns", 20, "display.max_colwidth", 40):
        warnings.simplefilter("always", SosstatsWarning)
        if args.data == "simulated":
            result = simulated_comparison(year=args.year, k=args.k, n_draws=args.draws,
                                          rng=args.seed)
        else:
            result = reproduce_2016(model=args.model, year=args.year or 2016, k=args.k,
                                    n_draws=args.draws, rng=args.seed,
                                    all_indicators=args.all_indicators)
        print(_as_flags(result.report(width=WIDTH)))
    notes = dict.fromkeys(str(w.message) for w in caught
                          if issubclass(w.category, SosstatsWarning))
    for note in notes:
        print(textwrap.fill(f"note: {_as_flags(note)}", width=WIDTH, subsequent_indent="  ",
                            break_on_hyphens=False))
    return 0


#: reproduce()'s argument names -> the flags of `sosstats reproduce`
_REPRODUCE_FLAGS = {"`seed`": "--seed", "`strands`": "--strands", "`formats`": "--format",
                    "`output`": "--output"}


def _run_reproduce(args: argparse.Namespace) -> int:
    from sosstats.errors import SosstatsError
    from sosstats.report import reproduce

    try:
        seed = int(args.seed.strip())
    except ValueError:
        _error(f"--seed must be a whole number (an integer); got {args.seed!r}.")
        return 2
    try:
        report = reproduce(args.output, strands=args.strands, quick=args.quick, seed=seed,
                           formats=args.format, quiet=True if args.quiet else None)
    except SosstatsError as exc:
        text = str(exc)
        for name, flag in _REPRODUCE_FLAGS.items():
            text = text.replace(name, flag)
        _error(text)
        return 2
    from sosstats.report._write import check_output

    folder = check_output(args.output)
    files = [f for f, fmt in (("report.html", "html"), ("report.md", "md"))
             if fmt in args.format]
    print(f"Report written to {folder}{' (' + ', '.join(files) + ')' if files else ''}: "
          f"{len(report.sections)} strands, {len(report.tables)} tables, "
          f"{len(report.figures)} figures, {report.total_seconds:.0f} s.")
    for key, failure in report.failures.items():
        _error(f"strand {key!r} failed: {failure.error}: {failure.message} (traceback in "
               f"{folder / 'run.log'}; the other strands were written).")
    return 1 if report.failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sosstats`` console script."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "neighbours":
        from sosstats.errors import SosstatsError

        try:
            return _run_neighbours(args)
        except SosstatsError as exc:
            _error(_as_flags(str(exc)))
            return 2
    if args.command == "reproduce":
        return _run_reproduce(args)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
