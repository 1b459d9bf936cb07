"""Counter-based random streams and smooth noise."""

from __future__ import annotations

import numpy as np

from flowcast.ingest.simulator.noise import SmoothNoise, rng_for


def test_streams_are_keyed_by_seed_stream_and_counter() -> None:
    a = rng_for(1, 2, 3).random(5)
    assert np.array_equal(a, rng_for(1, 2, 3).random(5))
    assert not np.array_equal(a, rng_for(1, 2, 4).random(5))
    assert not np.array_equal(a, rng_for(1, 3, 3).random(5))
    assert not np.array_equal(a, rng_for(2, 2, 3).random(5))


def test_smooth_noise_is_continuous_and_centred() -> None:
    noise = SmoothNoise(seed=0, stream=1, n=2000, period_s=3600, sigma=0.1)
    times = np.arange(0, 48 * 3600_000, 60_000)
    values = np.array([noise.at(int(t)) for t in times[::10]])
    assert abs(np.log(values).mean()) < 0.02
    assert 0.08 < np.log(values).std() < 0.12
    steps = np.abs(np.diff(np.log(values), axis=0))
    # ten minutes apart: small steps (independent draws would differ by ~0.11 on average)
    assert steps.mean() < 0.03
    assert steps.max() < 0.35


def test_smooth_noise_does_not_depend_on_query_order() -> None:
    a = SmoothNoise(seed=4, stream=1, n=10, period_s=600, sigma=0.2)
    b = SmoothNoise(seed=4, stream=1, n=10, period_s=600, sigma=0.2)
    late = a.at(5_000_000)
    _ = [b.at(t) for t in range(0, 5_000_000, 333_000)]
    assert np.array_equal(late, b.at(5_000_000))
