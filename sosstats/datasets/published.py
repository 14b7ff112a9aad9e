"""Published facts of the 2017 Signs of Safety evaluation, as constants.

- :data:`SIGNS_OF_SAFETY_PILOTS`: the ten pilot local authorities (LAs) with their ONS and DfE
  codes (looked up in the shipped indicator data);
- :data:`PUBLISHED_2016`: the published 2015/16 comparison of the pilots with their statistical
  nearest neighbours (SNNs), each row with the shipped indicator that reproduces it best and
  the combination of choices that does so (see ``docs/reproducing_2016.md`` for the search).

Use :func:`signs_of_safety_pilots` and :func:`published_2016` to get them as DataFrames.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "SIGNS_OF_SAFETY_PILOTS",
    "PUBLISHED_2016",
    "signs_of_safety_pilots",
    "published_2016",
]

#: The ten Signs of Safety pilot LAs (Baginsky et al. 2017), in the order the study lists
#: them. ``la_code`` is the ONS E-code, ``old_la_code`` the DfE 3-digit LA number.
SIGNS_OF_SAFETY_PILOTS: tuple[dict[str, str], ...] = (
    {"la_name": "Wakefield", "la_code": "E08000036", "old_la_code": "384"},
    {"la_name": "Norfolk", "la_code": "E10000020", "old_la_code": "926"},
    {"la_name": "Wokingham", "la_code": "E06000041", "old_la_code": "872"},
    {"la_name": "Bristol, City of", "la_code": "E06000023", "old_la_code": "801"},
    {"la_name": "Suffolk", "la_code": "E10000029", "old_la_code": "935"},
    {"la_name": "Lincolnshire", "la_code": "E10000019", "old_la_code": "925"},
    {"la_name": "Brent", "la_code": "E09000005", "old_la_code": "304"},
    {"la_name": "West Sussex", "la_code": "E10000032", "old_la_code": "938"},
    {"la_name": "Tower Hamlets", "la_code": "E09000030", "old_la_code": "211"},
    {"la_name": "Leicestershire", "la_code": "E10000018", "old_la_code": "855"},
)

_NOT_IN_DATA = ("not in the shipped data: LA-level assessment counts and durations are DfE "
                "children-in-need table C2, which is not available here")

# Keys of a best combination (see docs/reproducing_2016.md):
#   best_year: year ending 31 March (2016 = 2015/16)
#   best_model: DfE statistical-neighbour model ("2021" or "2025"; pre-2021 model unavailable)
#   best_pilot_agg: "mean" of the ten pilot values, "pooled" (sum of counts / sum of
#       populations; ICPC-weighted mean for durations) or "median"
#   best_snn_agg: "mean_of_pilot_snn_means" (mean over pilots of each pilot's SNN mean, the
#       LAIT "statistical neighbours average"), "mean_over_pairs" (mean over all pilot x
#       neighbour pairs), "mean_distinct", "pooled_distinct", "pooled_pairs", "median_distinct"
#   best_other_pilots: "keep" or "exclude" pilots from other pilots' SNN groups
#   best_geography: "drop" neighbours with no data that year (LAs created after 2016) or
#       "predecessor" (use the LA they replaced)
_NO_BEST = {"indicator": None, "alternatives": (), "best_year": None, "best_model": None,
            "best_pilot_agg": None, "best_snn_agg": None, "best_other_pilots": None,
            "best_geography": None, "best_definition": None, "recomputed_pilots": None,
            "recomputed_snn": None}

#: The published 2015/16 comparison (study.md) with the closest recomputation from the
#: shipped data. ``pilots``/``snn`` are the published figures; ``recomputed_*`` the figures
#: from the best combination, unrounded; ``reason`` says why a row cannot be recomputed.
PUBLISHED_2016: tuple[dict[str, object], ...] = (
    {"label": "assessments per 10,000 children", "short_label": "assessments /10k", "unit": "per 10,000 children aged 0-17",
     "pilots": 362, "snn": 497, "reported": "lower", **_NO_BEST, "reason": _NOT_IN_DATA},
    {"label": "average assessment duration (days)", "short_label": "assessment days", "unit": "days",
     "pilots": 19, "snn": 28, "reported": "significantly shorter", **_NO_BEST,
     "reason": _NOT_IN_DATA},
    {"label": "initial child protection conferences (ICPC) per 10,000 children", "short_label": "ICPCs /10k",
     "unit": "per 10,000 children aged 0-17", "pilots": 44, "snn": 61,
     "reported": "significantly lower",
     "indicator": "icpc_children_rate_per_10k",
     "alternatives": ("icpc_rate_per_10k",),
     "best_year": 2016, "best_model": "2025", "best_pilot_agg": "mean",
     "best_snn_agg": "mean_over_pairs", "best_other_pilots": "exclude",
     "best_geography": "drop",
     "best_definition": (
         "children subject to an ICPC per 10,000 (icpc_children / population); pilots: mean "
         "of the ten rates (44.5; ICPCs rather than children give 44.9); SNNs: 2025 model, "
         "other pilots excluded, mean over pilot x neighbour pairs (61.0). The SNN figure "
         "ranges 56-70 over reasonable choices and the 2021 model gives 64-66 with the "
         "LAIT-style average, so only the pilots' figure is pinned down"),
     "recomputed_pilots": 44.47, "recomputed_snn": 61.01, "reason": None},
    {"label": "days from start of section 47 enquiry to ICPC", "short_label": "S47 to ICPC (wd)", "unit": "working days",
     "pilots": 13, "snn": 14, "reported": "significantly shorter",
     "indicator": "s47_to_icpc_median_wd",
     "alternatives": ("s47_to_icpc_p25_wd", "s47_to_icpc_p75_wd"),
     "best_year": 2016, "best_model": "2021", "best_pilot_agg": "pooled",
     "best_snn_agg": "mean_of_pilot_snn_means", "best_other_pilots": "keep",
     "best_geography": "drop",
     "best_definition": (
         "LA median working days from start of S47 to ICPC; pilots: ICPC-weighted mean of "
         "the ten medians (13.0; plain mean 12.9, median 13); SNNs: 2021 model, LAIT-style "
         "mean of each pilot's SNN mean (14.0). Nearly every combination rounds to 13 vs "
         "13-14"),
     "recomputed_pilots": 12.98, "recomputed_snn": 13.98, "reason": None},
    {"label": "children becoming subject of a child protection plan per 10,000", "short_label": "CPPs /10k",
     "unit": "per 10,000 children aged 0-17", "pilots": 29, "snn": 41,
     "reported": "significantly lower",
     "indicator": "cpp_at_31_march_rate_per_10k",
     "alternatives": ("cpp_started_rate_per_10k",),
     "best_year": 2016, "best_model": "2025", "best_pilot_agg": "pooled",
     "best_snn_agg": "mean_of_pilot_snn_means", "best_other_pilots": "keep",
     "best_geography": "drop",
     "best_definition": (
         "the published figures match children SUBJECT of a plan at 31 March per 10,000 "
         "(the stock), not plans starting in the year (the flow, which gives pilots 39.8 and "
         "SNNs 49-59 whatever the choices); pilots: pooled rate (28.7; mean 29.8); SNNs: "
         "2025 model, LAIT-style mean of each pilot's SNN mean (41.1; 2021 model 43.2)"),
     "recomputed_pilots": 28.72, "recomputed_snn": 41.06, "reason": None},
)


def signs_of_safety_pilots() -> pd.DataFrame:
    """Return the ten Signs of Safety pilot LAs as a new DataFrame.

    Returns
    -------
    pandas.DataFrame
        Columns ``la_name, la_code`` (ONS E-code) and ``old_la_code`` (DfE LA number), one
        row per pilot in the order of the study.

    References
    ----------
    Baginsky, M., Moriarty, J., Manthorpe, J. et al. (2017). *Evaluation of Signs of Safety
    in 10 pilots*. Department for Education, Children's Social Care Innovation Programme.
    """
    return pd.DataFrame([dict(row) for row in SIGNS_OF_SAFETY_PILOTS],
                        columns=["la_name", "la_code", "old_la_code"])


def published_2016() -> pd.DataFrame:
    """Return the published 2015/16 pilots-vs-SNN table, with the best recomputation.

    Returns
    -------
    pandas.DataFrame
        One row per published indicator: ``label, short_label`` (a short name for tables),
        ``unit, pilots, snn, reported`` (as published), ``indicator`` (the shipped indicator that reproduces it best, or None),
        ``alternatives`` (other shipped indicators tried), the best combination
        ``best_year, best_model, best_pilot_agg, best_snn_agg, best_other_pilots,
        best_geography``, a plain-words ``best_definition``, the unrounded
        ``recomputed_pilots`` and ``recomputed_snn``, and ``reason`` (why a row cannot be
        recomputed, else None).

    Notes
    -----
    The best combination is the one whose recomputed pilots and SNN figures are jointly
    closest to the published ones (sum of absolute differences, to 0.1), ties going to the
    2015/16 year, the 2021 model, plain means. It is the result of a search over about 4,300
    combinations, so it fits the published numbers by construction; see
    ``docs/reproducing_2016.md`` for the grid and the caveats.
    """
    frame = pd.DataFrame([dict(row) for row in PUBLISHED_2016])
    frame["best_year"] = frame["best_year"].astype("Int64")
    return frame
