"""The ordered logit of :func:`sosstats.panel.ordered_change` as a :class:`LinearFit`.

So that ``wald_test`` and ``contrast`` work on its result: with CR2 the HTZ test and the
contrasts' Satterthwaite df of the score-form working model
(:mod:`sosstats._kernels.score_wald`), with CR1 / CR3 the F(q, G - 1) form, model-based the
chi-square.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sosstats._hypotheses import LinearFit


def hypothesis_fit(theta: np.ndarray, vcov: np.ndarray, terms: list[str], inference: str,
                    nobs: int, parts: dict[str, Any]) -> LinearFit:
    """Return the ordered logit for ``wald_test`` / ``contrast``: CR2 tests in score form.

    ``X`` carries the per-row scores (their shape and the clusters are what the F / chi-square
    forms use); with CR2 the HTZ test and the contrasts' Satterthwaite df come from the
    clusters' information shares (:mod:`sosstats._kernels.score_wald`).
    """
    if not parts:                                    # model-based: chi-square / F(q, n - p)
        return LinearFit(X=np.zeros((nobs, theta.size)), resid=np.zeros(nobs), beta=theta,
                         terms=list(terms), vcov=vcov, kind="model")
    from sosstats._kernels.score_wald import score_htz_nu, score_wald_htz

    info, codes = parts["info"], parts["codes"]
    kind = "cr2" if inference == "wild" else inference
    cr2 = kind == "cr2"

    def htz(R: np.ndarray, r: np.ndarray) -> tuple[float, float, float, float]:
        res = score_wald_htz(np.zeros((info.shape[0], theta.size)), info, theta, vcov, R, r)
        return res.statistic, res.df_denom, res.p_value, res.wald

    def contrast_df(c: np.ndarray) -> float:
        return score_htz_nu(info, np.asarray(c, dtype=float)[None, :])

    return LinearFit(X=parts["scores"], resid=np.zeros(nobs), beta=theta, terms=list(terms),
                     vcov=vcov, kind=kind, clusters=codes, htz=htz if cr2 else None,
                     contrast_df=contrast_df if cr2 else None)
