"""The package's public API: every advertised name resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import flowcast


def test_every_public_name_resolves() -> None:
    for name in flowcast.__all__:
        assert getattr(flowcast, name) is not None, name


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = ("import sys, flowcast; heavy = {'numba', 'lightgbm', 'pandas', 'kafka'} & "
            "set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        flowcast.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_the_public_api_is_small_enough_to_hold_in_mind() -> None:
    public = [name for name in flowcast.__all__ if name != "__version__"]
    assert len(public) <= 15, public
    assert {"Engine", "load_settings", "train_dataset", "backtest_roads", "Service"} <= set(public)
