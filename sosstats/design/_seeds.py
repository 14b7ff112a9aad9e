"""Seeds of a simulation study: one root ``SeedSequence``, one child per replicate.

Replicate ``i`` of ``n`` draws from ``numpy.random.default_rng(child(root, i))`` where
``child(root, i)`` is ``root.spawn(n)[i]`` of a root that has not spawned before, i.e.
``SeedSequence(root.entropy, spawn_key=root.spawn_key + (i,), pool_size=root.pool_size)``.
A child depends only on the root's entropy and on ``i``, never on which process, machine, chunk
or order computes it, so a study gives the same numbers, bit for bit, in-process, on a process
pool and on a Dask cluster. Building the child from ``(entropy, i)`` directly costs a few
microseconds and needs no list of ``n`` children in every worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sosstats.errors import DataError

__all__ = ["RootSeed", "root_seed"]


@dataclass(frozen=True)
class RootSeed:
    """The root of a study's seeds: a picklable, printable ``SeedSequence`` description.

    Attributes
    ----------
    entropy : int
        The root entropy (recorded in the result, so the study can be rerun exactly with
        ``rng=entropy`` when the root had no spawn key).
    spawn_key : tuple of int
        The root's spawn key (empty for ``SeedSequence(int)``).
    pool_size : int
        The root's pool size (numpy's default 4).
    """

    entropy: int
    spawn_key: tuple[int, ...] = ()
    pool_size: int = 4

    def sequence(self) -> np.random.SeedSequence:
        """Return the root as a numpy ``SeedSequence``."""
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key,
                                      pool_size=self.pool_size)

    def child(self, i: int) -> np.random.SeedSequence:
        """Seed of replicate ``i``: ``SeedSequence(entropy).spawn(n)[i]``."""
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key + (int(i),),
                                      pool_size=self.pool_size)

    def generator(self, i: int) -> np.random.Generator:
        """Random generator of replicate ``i`` (PCG64 seeded by :meth:`child`)."""
        return np.random.Generator(np.random.PCG64(self.child(i)))


def _as_int(entropy: int | np.ndarray | list[int] | None) -> int:
    """Return a SeedSequence entropy (int, or 32-bit words least significant first) as an int."""
    if entropy is None:  # pragma: no cover - numpy always fills entropy in
        raise DataError("the root SeedSequence has no entropy.")
    if isinstance(entropy, (int, np.integer)):
        return int(entropy)
    words = np.asarray(entropy, dtype=np.uint64).ravel()
    return sum(int(w) << (32 * k) for k, w in enumerate(words))


def root_seed(rng: int | np.random.SeedSequence | np.random.Generator | None) -> RootSeed:
    """Turn ``rng`` into the study's root seed.

    Parameters
    ----------
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        An int is the root entropy. A ``SeedSequence`` is the root itself (its entropy, spawn
        key and pool size; it is not advanced, so the same object gives the same study twice).
        A ``Generator`` is drawn from ONCE (128 bits of entropy; the generator advances, as any
        use of a generator does). None: fresh entropy from the operating system, recorded in
        the result.

    Returns
    -------
    RootSeed

    Raises
    ------
    DataError
        For any other type (a ``RandomState``, a float, a negative int).
    """
    if isinstance(rng, np.random.SeedSequence):
        return RootSeed(_as_int(rng.entropy), tuple(int(k) for k in rng.spawn_key),
                        int(rng.pool_size))
    if isinstance(rng, np.random.Generator):
        words = rng.integers(0, 2**32, size=4, dtype=np.uint64)
        return RootSeed(_as_int(words))
    if rng is None:
        return RootSeed(_as_int(np.random.SeedSequence().entropy))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise DataError(f"`rng` must be a non-negative int; got {rng}.")
        return RootSeed(int(rng))
    raise DataError("`rng` must be an int, a numpy.random.SeedSequence, a "
                    f"numpy.random.Generator or None; got {type(rng).__name__}.")
