"""The ``sosstats`` command.

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
    nb.add_argument("--model", choices=["2021", "2025"], default=None,
                    help="DfE statistical-neighbour model (default: the one closest to the "
                         "published figures, per indicator)")
    nb.add_argument("--year", type=int, default=None,
                    help="year ending 31 March (default: 2016, i.e. 2015/16, for the real "
                         "data; the last simulated year for simulated data)")
    nb.add_argument("--k", type=int, default=10, help="neighbours per LA (default 10)")
    nb.add_argument("--draws", type=int, default=10_000,
                    help="randomization-inference draws (default 10,000)")
    nb.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    nb.add_argument("--all-indicators", action="store_true",
                    help="also print the comparison on every rate and duration indicator")
    return parser


def _run_neighbours(args: argparse.Namespace) -> int:
    import warnings

    import pandas as pd

    from sosstats.errors import SosstatsWarning
    from sosstats.neighbours.reproduce import reproduce_2016, simulated_comparison

    with warnings.catch_warnings(record=True) as caught, pd.option_context(
            "display.width", 200, "display.max_columns", 20, "display.max_colwidth", 70):
        warnings.simplefilter("always", SosstatsWarning)
        if args.data == "simulated":
            result = simulated_comparison(year=args.year, k=args.k, n_draws=args.draws,
                                          rng=args.seed)
        else:
            result = reproduce_2016(model=args.model, year=args.year or 2016, k=args.k,
                                    n_draws=args.draws, rng=args.seed,
                                    all_indicators=args.all_indicators)
        print(result.report())
    notes = dict.fromkeys(str(w.message) for w in caught
                          if issubclass(w.category, SosstatsWarning))
    for note in notes:
        print(f"note: {note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sosstats`` console script."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "neighbours":
        from sosstats.errors import SosstatsError

        try:
            return _run_neighbours(args)
        except SosstatsError as exc:
            print(f"sosstats: error: {exc}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
