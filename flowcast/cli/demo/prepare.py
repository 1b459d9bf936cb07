"""What ``flowcast demo`` prepares before the stream starts: a city, its history on disk and a
quick model trained on it, kept in a work directory and reused while the parameters match."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flowcast.city import City
from flowcast.formats.city_read import load_city
from flowcast.formats.city_write import save_city
from flowcast.formats.dataset import save_dataset
from flowcast.ingest.simulator import generate_city, simulate_history

# the demo's quick model: fewer, faster-learning trees on every third time of the history
QUICK_LIGHTGBM: dict[str, Any] = {"max_rounds": 60, "params": {"learning_rate": 0.2},
                                  "stride": 3}


@dataclass(frozen=True)
class DemoCity:
    """Parameters of the demo's simulated city and its history (the work directory's key)."""

    sensors: int = 300
    spots: int = 5
    seed: int = 7
    start: str = "2026-10-02T08:00:00+08:00"  # Golden Week: a spot heads for saturation
    history_days: float = 3.0
    train: bool = True

    @property
    def start_time(self) -> dt.datetime:
        """When the live stream starts (tz-aware)."""
        return dt.datetime.fromisoformat(self.start)


@dataclass(frozen=True)
class Prepared:
    """What the work directory holds for a demo run."""

    city: City
    city_file: Path
    history_dir: Path
    model_dir: Path | None


def prepare(params: DemoCity, workdir: Path, echo: Callable[[str], None]) -> Prepared:
    """The city, its history dataset and (with ``params.train``) a quick model, built in
    ``workdir`` or reused from an earlier run with the same parameters."""
    key_file = workdir / "demo.json"
    city_file, history_dir, model_dir = (workdir / "city.geojson", workdir / "history",
                                         workdir / "model")
    wanted = asdict(params)
    have = _read_key(key_file)
    usable = (have == wanted and city_file.exists() and history_dir.exists()
              and (not params.train or (model_dir / "model.json").exists()))
    if usable:
        echo(f"reusing the city, history and model in {workdir} (delete it to rebuild)")
        return Prepared(load_city(city_file), city_file, history_dir,
                        model_dir if params.train else None)
    workdir.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    city = generate_city(params.sensors, params.spots, seed=params.seed)
    save_city(city, city_file)
    echo(f"city: {city.n_sensors} sensors on {len(city.segment_ids)} segments, "
         f"{city.n_spots} scenic spots, {len(city.screens)} guidance screens -> {city_file}")
    begin = params.start_time - dt.timedelta(days=params.history_days)
    echo(f"simulating {params.history_days:g} days of history before {params.start} ...")
    history = simulate_history(city, begin, params.history_days, seed=params.seed)
    if history_dir.exists():
        shutil.rmtree(history_dir)
    save_dataset(history, history_dir)
    trained = None
    if params.train:
        trained = _quick_train(history_dir, model_dir, echo)
    key_file.write_text(json.dumps(wanted, indent=2))
    return Prepared(city, city_file, history_dir, trained)


def _quick_train(history_dir: Path, model_dir: Path, echo: Callable[[str], None]) -> Path:
    """Train the quick model as ``flowcast train`` does (its progress bars and validation
    table, said through ``echo``)."""
    # imports LightGBM: only when training
    from flowcast.evaluation.training_run import TrainRun, train_dataset

    threads = free_cores()
    echo(f"training a quick LightGBM model on the history with {threads} thread(s) "
         "(about half a minute on 2 idle cores, a minute on a busy machine) ...")
    quick = {**QUICK_LIGHTGBM, "threads": threads}
    train_dataset(TrainRun(history_dir, model_dir, overwrite=True, lightgbm=quick), say=echo)
    return model_dir


def free_cores() -> int:
    """Cores this process may use that other work is not already using (at least 1): the
    cores it is allowed on less the 1-minute load average. LightGBM's OpenMP threads spin
    while they wait, so on a busy box fewer threads train faster (the demo's quick model,
    2 cores with two CPU hogs: 109 s on every core, 58 s on one; idle: 25 s on both, 37 s on
    one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, min(cores, round(cores - os.getloadavg()[0])))


def _read_key(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
