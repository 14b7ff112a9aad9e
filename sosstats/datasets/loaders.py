"""Loaders for the real public data shipped with sosstats.

Three files live in ``sosstats/datasets/data`` (provenance in ``data/SOURCES.md``; Open
Government Licence v3.0):

- ``la_csc_indicators.csv.gz``: English local-authority (LA) children's social care indicators,
  long format, 2013-2025 (DfE children-in-need tables, ONS population, DfE LAIT measures);
- ``la_csc_indicators_dictionary.csv``: one row per indicator (unit, source, years);
- ``la_statistical_neighbours.csv.gz``: the DfE children's services statistical-neighbour lists
  (April 2021 and May 2025 models), ten neighbours per LA.

Each file is parsed once per process (``functools.lru_cache``); every public function returns a
fresh copy, so callers may modify what they get.

**Duplicate series.** Some shipped indicators are one published figure under two names. For
example the percentage of child protection plans starting in the year that were a second or
subsequent plan is DfE children-in-need table D3's ``cpp_started_second_or_subsequent_pct``
(2013-2025) and LAIT's ``lait_PrevRegCPR`` (2015-2020, copied from D3: equal in every LA-year
both give a value, and LAIT has no value D3 lacks); 19 LAIT series are such copies of
children-in-need series. Analysing both names would count one result twice (a Holm family over
"all indicators" would hold the same test twice). :func:`find_duplicate_indicators` detects
such pairs; the loaders keep the series with more observed cells, which is always the DfE
children-in-need series (the primary publication, with more years), and leave the LAIT copy out
of :func:`load_la_indicators` and :func:`load_indicator_dictionary`; asking for a copy by name
is a DataError naming the series kept. :data:`DUPLICATE_INDICATORS` maps each copy left out to
the series kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from sosstats._validate import as_list
from sosstats.errors import DataError

__all__ = [
    "find_duplicate_indicators",
    "DUPLICATE_INDICATORS",
    "load_la_indicators",
    "load_indicator_dictionary",
    "load_statistical_neighbours",
    "INDICATOR_COLUMNS",
    "NEIGHBOUR_COLUMNS",
    "NEIGHBOUR_MODELS",
]

#: Columns of :func:`load_la_indicators` (long form), in order.
INDICATOR_COLUMNS: tuple[str, ...] = (
    "la_code", "old_la_code", "la_name", "year", "indicator", "value", "flag", "period_label",
)

#: Columns of :func:`load_statistical_neighbours`, in order (the names the fitted neighbour
#: model in :mod:`sosstats.neighbours` uses).
NEIGHBOUR_COLUMNS: tuple[str, ...] = (
    "la_code", "la_name", "old_la_code", "rank", "neighbour", "neighbour_name",
    "neighbour_old_la_code", "closeness", "model",
)

#: Short model names accepted by :func:`load_statistical_neighbours` -> label in the data.
NEIGHBOUR_MODELS: dict[str, str] = {
    "2021": "DfE children's services SN model April 2021",
    "2025": "DfE children's services SN model May 2025",
}

# ONS codes that changed while the LA's boundary did not (Northumberland and Gateshead were
# recoded in 2013, Buckinghamshire became a unitary in 2020, North Yorkshire and Somerset in
# 2023). The source tables mix the old and the new code for the same LA and year; the loaders
# use the current code throughout, as the statistical-neighbour lists do.
_RECODED: dict[str, str] = {
    "E06000048": "E06000057",  # Northumberland
    "E08000020": "E08000037",  # Gateshead
    "E10000002": "E06000060",  # Buckinghamshire
    "E10000023": "E06000065",  # North Yorkshire
    "E10000027": "E06000066",  # Somerset
}

_DATA = resources.files("sosstats.datasets") / "data"
_STR_COLUMNS = ("la_code", "old_la_code", "la_name", "indicator", "flag", "period_label")


#: Shipped indicators left out because they repeat another series: dropped name -> kept name
#: (found by :func:`find_duplicate_indicators` on the shipped data; a test checks it).
DUPLICATE_INDICATORS: dict[str, str] = {
    "lait_10_ICPC": "s47_to_icpc_0_10_wd",
    "lait_15_ICPC": "s47_to_icpc_11_15_wd",
    "lait_20_ICPC": "s47_to_icpc_16_20_wd",
    "lait_21_ICPC": "s47_to_icpc_21plus_wd",
    "lait_CIN": "cin_at_31_march_rate_per_10k",
    "lait_CIN_Refferals_NFA": "referrals_nfa_pct",
    "lait_CPP_Abuse": "cpp_started",
    "lait_CPP_Abuse_Rate": "cpp_started_rate_per_10k",
    "lait_CPP_Num": "cpp_at_31_march",
    "lait_CPP_Total_NumRef": "referrals",
    "lait_CPP_Total_Rateper10,000": "referrals_rate_per_10k",
    "lait_CPP_rate": "cpp_at_31_march_rate_per_10k",
    "lait_CPPlans2yrsActive": "cpp_at_31_march_2yrs_plus_pct",
    "lait_ISCP_Conf": "icpc_rate_per_10k",
    "lait_PrevRegCPR": "cpp_started_second_or_subsequent_pct",
    "lait_ReReferral": "rereferrals_within_12m_pct",
    "lait_ReRegCPR": "cpp_started_second_or_subsequent",
    "lait_Referrals_AssessedNotNeed": "referrals_assessed_not_in_need_pct",
    "lait_Section_47": "s47_rate_per_10k",
}


def find_duplicate_indicators(frame: pd.DataFrame, *, min_shared: int = 10) -> pd.DataFrame:
    """Pairs of indicators of a long table that are the same series under two names.

    Indicator ``B`` repeats indicator ``A`` when, over the LA-years (``la_code, year``), every
    value ``B`` has is also a value of ``A`` for the same LA-year and equal to it (exact
    equality: the same published figure), on at least ``min_shared`` LA-years. The series with
    more observed cells is kept (ties: the first name in sorted order).

    Parameters
    ----------
    frame : pandas.DataFrame
        Long table with columns ``la_code, year, indicator, value`` (as
        :func:`load_la_indicators` returns).
    min_shared : int
        Fewest LA-years with a value in both series for the pair to count.

    Returns
    -------
    pandas.DataFrame
        One row per duplicate: ``dropped, kept, n_shared`` (LA-years observed in both),
        ``n_dropped``, ``n_kept`` (observed cells of each).
    """
    obs = frame.loc[frame["value"].notna(), ["la_code", "year", "indicator", "value"]]
    wide = obs.pivot_table(index=["la_code", "year"], columns="indicator", values="value",
                           aggfunc="first")
    names = [str(c) for c in wide.columns]
    w = wide.to_numpy(dtype=float)
    seen = ~np.isnan(w)
    count = seen.sum(axis=0)
    rows, dropped, kept = [], set(), set()
    order = sorted(range(len(names)), key=lambda j: (-count[j], names[j]))  # keepers first
    for a in order:
        if names[a] in dropped:
            continue
        kept.add(names[a])
        both = seen[:, [a]] & seen
        shared = both.sum(axis=0)
        equal = ~(both & (w[:, [a]] != w)).any(axis=0)
        inside = ~(seen & ~seen[:, [a]]).any(axis=0)   # every value of B is a value of A
        for b in np.flatnonzero(equal & inside & (shared >= min_shared)):
            if names[b] in kept or names[b] in dropped:
                continue
            dropped.add(names[b])
            rows.append({"dropped": names[b], "kept": names[a], "n_shared": int(shared[b]),
                         "n_dropped": int(count[b]), "n_kept": int(count[a])})
    return pd.DataFrame(rows, columns=["dropped", "kept", "n_shared", "n_dropped", "n_kept"])


def _read_indicators() -> pd.DataFrame:
    """The shipped table as read (current ONS codes), duplicate series included."""
    with resources.as_file(_DATA / "la_csc_indicators.csv.gz") as path:
        frame = pd.read_csv(path, dtype={c: "str" for c in _STR_COLUMNS} | {"value": "float64"},
                            keep_default_na=False, na_values={"value": [""], "flag": [""]})
    frame["la_code"] = frame["la_code"].replace(_RECODED)
    frame["year"] = frame["year"].astype("int64")
    return frame


@lru_cache(maxsize=1)
def _indicators_long() -> pd.DataFrame:
    frame = _read_indicators()
    frame = frame.loc[~frame["indicator"].isin(list(DUPLICATE_INDICATORS))].copy()
    # A cell with no value always carries a symbol. Where the source gave none it is "x" (not
    # available: the ONS estimates published as "x" for pre-2019 Dorset, Poole and
    # Bournemouth, and the rates derived from them), or "z" (not applicable: the % of ICPCs
    # within 15 days in years with no ICPC, 0 / 0, Isles of Scilly).
    blank = frame["value"].isna() & frame["flag"].isna()
    zero_icpc = blank & (frame["indicator"] == "icpc_within_15_wd_pct")
    frame.loc[blank & ~zero_icpc, "flag"] = "x"
    frame.loc[zero_icpc, "flag"] = "z"
    return frame[list(INDICATOR_COLUMNS)].reset_index(drop=True)


def _indicators_with_duplicates() -> pd.DataFrame:
    """The shipped table before duplicates are left out (for :func:`find_duplicate_indicators`)."""
    return _read_indicators()


@lru_cache(maxsize=1)
def _dictionary() -> pd.DataFrame:
    with resources.as_file(_DATA / "la_csc_indicators_dictionary.csv") as path:
        table = pd.read_csv(path, dtype={"indicator": "str", "years": "str",
                                         "period_labels": "str"})
    return table.loc[~table["indicator"].isin(list(DUPLICATE_INDICATORS))].reset_index(drop=True)


@lru_cache(maxsize=1)
def _neighbours() -> pd.DataFrame:
    with resources.as_file(_DATA / "la_statistical_neighbours.csv.gz") as path:
        raw = pd.read_csv(path, dtype="str", keep_default_na=False)
    frame = pd.DataFrame({
        "la_code": raw["la_code"].replace(_RECODED),
        "la_name": raw["la_name"],
        "old_la_code": raw["old_la_code"],
        "rank": raw["sn_rank"].astype("int64"),
        "neighbour": raw["sn_la_code"].replace(_RECODED),
        "neighbour_name": raw["sn_la_name"],
        "neighbour_old_la_code": raw["sn_old_la_code"],
        "closeness": raw["closeness"].str.strip(),
        "model": raw["model"],
    })
    return frame.sort_values(["model", "old_la_code", "rank"], kind="stable",
                             ignore_index=True)


def _check_indicators(indicators: str | Iterable[str], known: list[str]) -> list[str]:
    wanted = as_list(indicators)
    if not wanted:
        raise DataError("`indicators` is empty; pass None for all indicators.")
    copies = [name for name in wanted if name in DUPLICATE_INDICATORS]
    if copies:
        name = copies[0]
        raise DataError(f"indicator {name!r} in `indicators` is the same series as "
                        f"{DUPLICATE_INDICATORS[name]!r} (equal in every LA-year both give a "
                        f"value) and is not loaded twice; use {DUPLICATE_INDICATORS[name]!r}.")
    unknown = [name for name in wanted if name not in set(known)]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(str(name), known, n=4, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else "no close match"
            hints.append(f"{name!r} ({hint})")
        raise DataError(f"unknown indicator(s) in `indicators`: {'; '.join(hints)}. "
                        "See load_indicator_dictionary() for the list.")
    return list(dict.fromkeys(wanted))


def _check_years(years: int | Iterable[int], known: list[int]) -> list[int]:
    if isinstance(years, (int, np.integer)) or not isinstance(years, Iterable) \
            or isinstance(years, str):
        years = [years]
    wanted = list(years)
    if not wanted:
        raise DataError("`years` is empty; pass None for all years.")
    bad = [y for y in wanted if isinstance(y, bool) or not isinstance(y, (int, np.integer))]
    if bad:
        raise DataError(f"`years` must be integers (year ending 31 March); got {bad!r}.")
    missing = [y for y in wanted if y not in set(known)]
    if missing:
        raise DataError(f"no data for year(s) {missing} in `years`; the data cover "
                        f"{min(known)}-{max(known)}.")
    return list(dict.fromkeys(int(y) for y in wanted))


def load_la_indicators(*, indicators: str | Iterable[str] | None = None,
                       years: int | Iterable[int] | None = None,
                       wide: bool = False) -> pd.DataFrame:
    r"""Load English LA children's social care indicators (DfE / ONS official statistics).

    Parameters
    ----------
    indicators : str or iterable of str, optional
        Indicator names to keep (see :func:`load_indicator_dictionary`); all by default.
    years : int or iterable of int, optional
        Years to keep: the year ending 31 March (``2016`` is 2015-16; LAIT finance rows use the
        financial year's end and LAIT workforce rows the September of that year).
    wide : bool, default False
        If True return one row per LA x year with one column per indicator (values only, the
        suppression flags are dropped); otherwise the long form.

    Returns
    -------
    pandas.DataFrame
        Long form: columns ``la_code`` (ONS E-code, str), ``old_la_code`` (DfE 3-digit number,
        str), ``la_name``, ``year`` (int64), ``indicator``, ``value`` (float64), ``flag`` (str
        or missing) and ``period_label`` (the period as published). Wide form: ``la_code,
        old_la_code, la_name, year`` and one float column per indicator.

    Raises
    ------
    DataError
        An unknown indicator (the message lists close matches), a year absent from the data,
        or an empty selection.

    Notes
    -----
    A suppressed or unavailable cell has ``value`` NaN and its symbol in ``flag`` (``c``
    suppressed, ``x``/``:``/``-`` not available, ``z`` not applicable, ``k`` fewer than 0.5,
    ``u`` low reliability); it is never zero. Rates per 10,000 are

    .. math:: r_{a,t} = 10^4 \, n_{a,t} / P_{a,t-1},

    with :math:`n_{a,t}` the count for LA :math:`a` in the year ending 31 March :math:`t` and
    :math:`P_{a,t-1}` the ONS mid-year estimate of children aged 0-17 for calendar year
    :math:`t-1` (the ``child_population_0_17`` row of year :math:`t`), DfE's own convention.
    ONS codes that changed without a boundary change (Northumberland, Gateshead,
    Buckinghamshire, North Yorkshire, Somerset) are given as the current code in every year.

    References
    ----------
    Department for Education, *Characteristics of children in need* (Explore Education
    Statistics, tables B1, C1, C4, D3, D5) and *Local Authority Interactive Tool*;
    Office for National Statistics, mid-year population estimates. Open Government Licence v3.0.

    Examples
    --------
    >>> from sosstats.datasets.loaders import load_la_indicators
    >>> icpc = load_la_indicators(indicators="icpc_rate_per_10k", years=2016)
    >>> icpc.columns.tolist()[:4]
    ['la_code', 'old_la_code', 'la_name', 'year']
    """
    frame = _indicators_long()
    keep = pd.Series(True, index=frame.index)
    if indicators is not None:
        names = _check_indicators(indicators, sorted(frame["indicator"].unique()))
        keep &= frame["indicator"].isin(names)
    if years is not None:
        wanted = _check_years(years, sorted(int(y) for y in frame["year"].unique()))
        keep &= frame["year"].isin(wanted)
    out = frame.loc[keep].reset_index(drop=True)
    if not wide:
        return out.copy()
    ids = ["la_code", "old_la_code", "la_name", "year"]
    table = out.pivot(index=ids, columns="indicator", values="value")
    order = names if indicators is not None else sorted(table.columns)
    table = table[order].reset_index()
    table.columns.name = None
    return table.sort_values(["year", "la_code"], ignore_index=True)


def load_indicator_dictionary() -> pd.DataFrame:
    """Load the dictionary of the indicators in :func:`load_la_indicators`.

    Returns
    -------
    pandas.DataFrame
        One row per indicator: ``indicator, unit, source, years, n_rows, n_missing,
        period_labels`` (``years`` is a range such as ``"2013-2025"``; ``n_missing`` counts
        the rows with no value, before the loader's harmonisation of ONS codes).
    """
    return _dictionary().copy()


def load_statistical_neighbours(model: str = "2021") -> pd.DataFrame:
    """Load a DfE children's services statistical-neighbour model: ten neighbours per LA.

    Parameters
    ----------
    model : {"2021", "2025"}
        The April 2021 or the May 2025 refresh. (The pre-2021 model, which the 2017 Signs of
        Safety evaluation would have used, is not shipped.)

    Returns
    -------
    pandas.DataFrame
        One row per LA x rank: ``la_code, la_name, old_la_code, rank`` (int64, 1 = nearest),
        ``neighbour, neighbour_name, neighbour_old_la_code`` (the neighbour's ONS code, name
        and DfE number), ``closeness`` (DfE band: Extremely close ... Not close) and
        ``model`` (the DfE model's label). These are the column names of the fitted neighbour
        model in :mod:`sosstats.neighbours`.

    Raises
    ------
    DataError
        ``model`` is not ``"2021"`` or ``"2025"``.

    Notes
    -----
    The April 2021 model also lists the LAs abolished in 2019-21 (Dorset, Poole and
    Bournemouth "Pre LG", Northamptonshire) so that older data can be compared; their
    neighbours, like everyone's, are on the 2021 geography (e.g. North and West
    Northamptonshire), which has no data before 2021. The May 2025 model is on the 2023
    geography (Cumberland, Westmorland and Furness).

    References
    ----------
    Department for Education, *Children's services statistical neighbour benchmarking tool*
    (April 2021 and May 2025 refreshes). Open Government Licence v3.0.
    """
    key = str(model) if isinstance(model, (str, int)) and not isinstance(model, bool) else None
    if key not in NEIGHBOUR_MODELS:
        raise DataError(f"`model` must be one of {', '.join(map(repr, NEIGHBOUR_MODELS))}; "
                        f"got {model!r}. The pre-2021 DfE model is not available.")
    frame = _neighbours()
    out = frame.loc[frame["model"] == NEIGHBOUR_MODELS[key]].reset_index(drop=True)
    return out.copy()
