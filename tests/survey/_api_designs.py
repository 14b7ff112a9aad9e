"""R survey's api data sets (exported as fixtures) and the designs the survey tests share.

Imported by test_survey_design.py and test_survey_estimates.py (pytest puts this folder on
``sys.path``), so both check the same eleven designs against the same R fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sosstats.survey import SurveyDesign

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def api(name):
    return pd.read_csv(FIX / f"survey_estimates_reference_{name}.csv")


def clus1_regions():
    d = api("apiclus1")
    reg = pd.read_csv(FIX / "survey_estimates_reference_regions.csv")
    return d.assign(region=reg["region"].to_numpy())


DESIGNS = {
    "clus1": lambda: SurveyDesign(api("apiclus1"), cluster="dnum", weights="pw", fpc="fpc"),
    "clus1_nofpc": lambda: SurveyDesign(api("apiclus1"), cluster="dnum", weights="pw"),
    "strat": lambda: SurveyDesign(api("apistrat"), strata="stype", weights="pw", fpc="fpc"),
    "strat_nofpc": lambda: SurveyDesign(api("apistrat"), strata="stype", weights="pw"),
    "stratclus": lambda: SurveyDesign(api("apistrat"), cluster="dnum", strata="stype",
                                      weights="pw", nest=True),
    "clus2": lambda: SurveyDesign(api("apiclus2"), cluster=["dnum", "snum"],
                                  fpc=["fpc1", "fpc2"]),
    "clus2_nofpc": lambda: SurveyDesign(api("apiclus2"), cluster=["dnum", "snum"],
                                        weights="pw"),
    **{f"lonely_{rule}": (lambda rule=rule: SurveyDesign(clus1_regions(), cluster="dnum",
                                                          strata="region", weights="pw",
                                                          lonely_psu=rule))
       for rule in ("remove", "adjust", "average", "certainty")},
}
