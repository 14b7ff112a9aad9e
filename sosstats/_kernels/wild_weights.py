"""Wild bootstrap cluster weights: their distributions, enumeration of their supports.

Shared by the one-coefficient kernel (:mod:`sosstats._kernels.wild`), the joint test
(:mod:`sosstats._kernels.wild_joint`) and the score bootstrap of the logits: Rademacher, Webb's
six points, Mammen's two points and the normal, all with mean 0 and variance 1, and the rule for
when every weight vector of a finite support is used instead of draws.
"""

from __future__ import annotations

import numpy as np

from sosstats.errors import DataError, DesignError

__all__ = ["WEBB_POINTS", "WILD_WEIGHTS", "rademacher_enumeration", "webb_enumeration",
           "enumerates", "weight_enumeration", "wild_weights"]

#: The six support points of Webb's (2023) weight distribution, each with probability 1/6.
WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])

#: Distributions of the cluster weights ``v_g`` (:func:`wild_weights`).
WILD_WEIGHTS = ("rademacher", "webb", "mammen", "normal")
_SQRT5 = np.sqrt(5.0)

_MAX_ENUMERATION_CLUSTERS = 20  # 2**20 sign vectors x 20 clusters = 160 MB of weights
_MAX_WEBB_ENUMERATION_CLUSTERS = 8  # 6**8 = 1.7e6 vectors x 8 clusters = 107 MB of weights


def rademacher_enumeration(n_clusters: int) -> np.ndarray:
    """All ``2**G`` Rademacher sign vectors as a ``(2**G, G)`` array of +-1.

    Row ``b`` holds the binary digits of ``b`` (bit ``g`` set means ``v_g = +1``), so the last
    row is all ones (the sample itself) and row ``b`` and row ``2**G - 1 - b`` are negatives.
    """
    b = np.arange(2 ** n_clusters, dtype=np.int64)[:, None]
    bits = (b >> np.arange(n_clusters, dtype=np.int64)) & 1
    return (2 * bits - 1).astype(float)


def webb_enumeration(n_clusters: int) -> np.ndarray:
    """All ``6**G`` Webb weight vectors as a ``(6**G, G)`` array, each equally likely.

    Row ``b`` holds the base-6 digits of ``b`` mapped to :data:`WEBB_POINTS` (digit ``k`` of
    cluster ``g`` is ``(b // 6**g) % 6``), so row ``b`` and row ``6**G - 1 - b`` are negatives
    and the all-ones vector (the sample itself) is among the rows.
    """
    b = np.arange(6 ** n_clusters, dtype=np.int64)[:, None]
    digits = (b // 6 ** np.arange(n_clusters, dtype=np.int64)) % 6
    return WEBB_POINTS[digits]


def enumerates(weight_type: str, n_clusters: int, n_resamples: int,
               full_enumeration: bool | str = "auto") -> bool:
    """Whether the bootstrap uses every weight vector of the support instead of draws.

    ``"auto"``: Rademacher when ``2**G <= n_resamples`` (and ``G <= 20``), Webb when
    ``6**G <= n_resamples`` (and ``G <= 8``). ``True`` forces it within those caps (a
    :class:`~sosstats.errors.DesignError` beyond them); ``False`` never enumerates. Mammen and
    normal weights never enumerate: the normal has no finite support, and Mammen's two points
    are not equally likely (an enumerated p-value would be a probability-weighted count, which
    neither boottest nor fwildclusterboot reports), so they are always drawn.
    """
    if full_enumeration is False:
        return False
    if weight_type == "rademacher":
        cap, size = _MAX_ENUMERATION_CLUSTERS, 2
    elif weight_type == "webb":
        cap, size = _MAX_WEBB_ENUMERATION_CLUSTERS, 6
    else:
        cap, size = -1, 0
    if full_enumeration is True:
        if n_clusters > cap:
            raise DesignError(
                "full_enumeration=True needs weight_type='rademacher' (2**G vectors, G <= "
                f"{_MAX_ENUMERATION_CLUSTERS}) or 'webb' (6**G vectors, G <= "
                f"{_MAX_WEBB_ENUMERATION_CLUSTERS}); got weight_type={weight_type!r} with "
                f"G = {n_clusters}. Sample instead.")
        return True
    return n_clusters <= cap and size ** n_clusters <= n_resamples


def weight_enumeration(weight_type: str, n_clusters: int) -> np.ndarray:
    """Return every weight vector of ``weight_type``'s support.

    :func:`rademacher_enumeration` or :func:`webb_enumeration`.
    """
    if weight_type == "rademacher":
        return rademacher_enumeration(n_clusters)
    if weight_type == "webb":
        return webb_enumeration(n_clusters)
    raise DesignError(f"`weight_type` {weight_type!r} has no finite support to enumerate.")


def wild_weights(rng: np.random.Generator, n_resamples: int, n_clusters: int,
                 weight_type: str = "rademacher") -> np.ndarray:
    """Draw a ``(n_resamples, n_clusters)`` matrix of wild bootstrap weights.

    Rademacher: +-1 with probability 1/2 each. Webb (2023): the six points
    ``+-sqrt(1/2), +-1, +-sqrt(3/2)`` with probability 1/6 each (mean 0, variance 1, fourth
    moment 7/6, and 6**G distinct vectors instead of 2**G). Mammen (1993): ``-(sqrt(5) - 1)/2``
    with probability ``(sqrt(5) + 1) / (2 sqrt(5))``, else ``(sqrt(5) + 1)/2`` (mean 0, variance
    1, third moment 1). Normal: standard normal. All have mean 0 and variance 1.
    """
    if weight_type == "rademacher":
        return 2.0 * rng.integers(0, 2, (n_resamples, n_clusters)) - 1.0
    if weight_type == "webb":
        return WEBB_POINTS[rng.integers(0, 6, (n_resamples, n_clusters))]
    if weight_type == "mammen":
        low = rng.random((n_resamples, n_clusters)) < (_SQRT5 + 1) / (2 * _SQRT5)
        return np.where(low, -(_SQRT5 - 1) / 2, (_SQRT5 + 1) / 2)
    if weight_type == "normal":
        return rng.standard_normal((n_resamples, n_clusters))
    raise DataError(f"`weight_type` must be one of {', '.join(map(repr, WILD_WEIGHTS))}; got "
                    f"{weight_type!r}.")
