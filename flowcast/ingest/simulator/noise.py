"""Counter-based random streams and smooth multiplicative noise.

Every random draw of the simulator comes from a generator keyed by ``(seed, stream, counter)``,
where the counter is an absolute time index (a reporting interval, an hour, a day). A time
interval therefore always sees the same numbers, however the caller slices the run.
"""

from __future__ import annotations

import numpy as np

# stream tags: one per purpose, so that changing one component never shifts another's numbers
STATIC = 1
ROAD_HOURLY = 2
ROAD_DAILY = 3
INCIDENTS = 4
DETECTORS = 5
FAULTS = 6
SPOT_ARRIVALS = 7
SPOT_HOURLY = 8
SPOT_DAILY = 9
CITY = 10


def rng_for(seed: int, stream: int, counter: int = 0) -> np.random.Generator:
    """A generator for one (seed, stream, counter) key; ``seed`` and ``counter`` are
    non-negative integers (counter: an absolute time index)."""
    return np.random.default_rng([int(seed), int(stream), int(counter)])


class SmoothNoise:
    """Log-normal multiplicative noise for ``n`` series that varies smoothly in time.

    Standard-normal knots are drawn every ``period_s`` seconds of absolute time (epoch-aligned)
    and interpolated with a cosine ramp; the factor is ``exp(sigma * z - sigma**2 / 2)`` so its
    mean stays near 1.
    """

    def __init__(self, seed: int, stream: int, n: int, period_s: int, sigma: float) -> None:
        self.seed, self.stream, self.n = seed, stream, n
        self.period_ms = int(period_s) * 1000
        self.sigma = float(sigma)
        self._knots: dict[int, np.ndarray] = {}

    def _knot(self, index: int) -> np.ndarray:
        knot = self._knots.get(index)
        if knot is None:
            if len(self._knots) > 4:  # keep only the knots around the current time
                for old in sorted(self._knots)[:-2]:
                    del self._knots[old]
            knot = rng_for(self.seed, self.stream, index).standard_normal(self.n)
            self._knots[index] = knot
        return knot

    def at(self, t_ms: int) -> np.ndarray:
        """The factor of every series at epoch milliseconds ``t_ms``, float64 shape ``(n,)``."""
        index, into = divmod(int(t_ms), self.period_ms)
        w = 0.5 - 0.5 * np.cos(np.pi * into / self.period_ms)
        z = (1.0 - w) * self._knot(index) + w * self._knot(index + 1)
        # interpolation shrinks the variance between knots; rescale so it stays sigma**2
        z /= np.sqrt((1.0 - w) ** 2 + w**2)
        return np.exp(self.sigma * z - 0.5 * self.sigma**2)
