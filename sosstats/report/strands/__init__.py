"""The strands of the evaluation, in the order the report runs them.

Each strand is a module here with ``KEY``, ``TITLE`` and ``run(ctx: StrandContext) -> Section``.
"""

#: strand key -> module under sosstats.report.strands, in report order
STRANDS = {
    "neighbours": "sosstats.report.strands.neighbours",
    "change": "sosstats.report.strands.change",
    "attrition": "sosstats.report.strands.attrition",
    "multilevel": "sosstats.report.strands.multilevel",
    "vfm": "sosstats.report.strands.vfm",
    "survey": "sosstats.report.strands.survey",
}

__all__ = ["STRANDS"]
