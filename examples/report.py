"""The evaluation report from Python: run two strands, look at their results, write the report
===========================================================================================

``sosstats reproduce`` runs all six strands and writes the report; this script does the same
through the API for two fast strands (Time 1 / Time 2 change and value for money), prints what
came back, renders one strand as a page of its own and writes the whole report to
``$SOSSTATS_EXAMPLE_OUT`` (or a temporary folder).
"""  # noqa: D205, D400

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sosstats.report import render_html, reproduce


def main() -> None:
    report = reproduce(strands=["change", "vfm"], quick=True, seed=0, quiet=True)
    print(report)
    print()

    for key, section in report.sections.items():
        print(f"{section.title}")
        print(f"  simulated: {section.simulated}; tables: {', '.join(section.tables)}; "
              f"figures: {', '.join(section.figures)}")
        if section.truth is not None:
            covered = section.truth.get("covered")
            if covered is not None and covered.notna().any():
                share = covered.dropna().astype(bool).mean()
                print(f"  intervals covering the simulator's truth: {share:.0%} of "
                      f"{covered.notna().sum()}")
        if section.published is not None:
            print(f"  published figures set beside ours: {len(section.published)}")
        print()

    out = Path(os.environ.get("SOSSTATS_EXAMPLE_OUT") or tempfile.mkdtemp())
    page = out / "change_only.html"
    page.write_text(render_html(report, only="change"), encoding="utf-8")
    folder = report.write(out / "sosstats-report")
    print(f"one strand as its own page: {page}")
    print(f"the report: {folder / 'report.html'}")
    print(f"tables: {len(list((folder / 'tables').glob('*.csv')))} CSV files; "
          f"figures: {len(list((folder / 'figures').glob('*.png')))} PNG files")


if __name__ == "__main__":
    main()
