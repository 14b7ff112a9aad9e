"""Multiple-membership clusters of :func:`sosstats.panel.change_model`: the share matrix.

A family seen by several social workers loads its score on each worker's cluster with its
share of contact; this turns the long ``(entity id, cluster id, weight)`` table into the
``(n_entities, G)`` sparse matrix of shares (rows sum to one) that the cluster kernel takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sosstats._validate import check_weights
from sosstats.errors import DataError


def membership_matrix(membership: Any, ents: np.ndarray, entity: str) -> tuple[Any, np.ndarray]:
    """Shares matrix (n_entities, G) from a long (entity id, cluster id, weight) table."""
    from scipy import sparse

    if not isinstance(membership, pd.DataFrame) or membership.shape[1] != 3:
        raise DataError("`membership` must be a DataFrame with three columns: entity id, "
                        "cluster id, weight (share of contact).")
    m_ent, m_cl, m_w = (membership.iloc[:, j] for j in range(3))
    if m_ent.isna().any() or m_cl.isna().any():
        raise DataError("`membership` has missing entity or cluster ids.")
    w = check_weights(m_w, f"`membership` weights {str(membership.columns[2])!r}",
                      require_positive_sum=False)
    pos = pd.Index(ents).get_indexer(m_ent)
    used = pos >= 0
    present = np.zeros(ents.size, bool)
    present[pos[used]] = True
    if not present.all():
        lost = ents[~present]
        raise DataError(f"{lost.size} {entity} have no row in `membership`: "
                        f"{', '.join(map(str, lost[:10]))}.")
    codes, labels = pd.factorize(m_cl[used], sort=True)
    mat = sparse.csr_matrix((w[used], (pos[used], codes)), shape=(ents.size, labels.size))
    tot = np.asarray(mat.sum(axis=1)).ravel()
    if not (tot > 0).all():
        raise DataError(f"`membership` weights sum to zero for {int((tot <= 0).sum())} {entity}.")
    mat = sparse.diags(1.0 / tot) @ mat
    return mat.tocsr(), np.asarray(labels)
