"""Dead letters: refused input, sent to the dead-letter topic with the reason and its origin.

A dead letter keeps the original key and bytes (for a JSON record, the record itself; for bad
rows of an Arrow frame, a frame holding just those rows) and adds headers:

``flowcast-reason``            why it was refused (one of :data:`ALL_REASONS`)
``flowcast-origin-topic``      where it came from
``flowcast-origin-partition``
``flowcast-origin-offset``
``flowcast-origin-rows``       for frames: the refused rows, comma-separated (when known)
``flowcast-readings``          how many readings the letter holds

plus the original record's own headers (so a frame stays recognisable as Arrow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flowcast.city import City
from flowcast.ingest.readings import RoadBatch, SpotBatch
from flowcast.ingest.wire.arrow_encode import encode_arrow
from flowcast.ingest.wire.arrow_frame import FrameError
from flowcast.ingest.wire.codec import REASONS, Rejects, frame_rows, is_arrow_frame

# reasons the engine adds to the decoder's
MISROUTED = "misrouted"  # keyed so that it landed on a partition that does not own the sensor
FUTURE_TIMESTAMP = "future_timestamp"  # too far ahead of the clock
TOO_OLD = "too_old"  # older than the history span: nothing left to correct
AHEAD_OF_WINDOW = "ahead_of_window"  # beyond the open buckets even after closing
ENGINE_REASONS: tuple[str, ...] = (MISROUTED, FUTURE_TIMESTAMP, TOO_OLD, AHEAD_OF_WINDOW)
ALL_REASONS: tuple[str, ...] = REASONS + ENGINE_REASONS


@dataclass
class DeadLetter:
    """One record for the dead-letter topic."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    reason: str
    readings: int


def _origin_headers(record: Any, reason: str, readings: int,
                    rows: Sequence[int] | None) -> list[tuple[str, bytes]]:
    headers = [("flowcast-reason", reason.encode()),
               ("flowcast-origin-topic", str(record.topic).encode()),
               ("flowcast-origin-partition", str(record.partition).encode()),
               ("flowcast-origin-offset", str(record.offset).encode()),
               ("flowcast-readings", str(readings).encode())]
    if rows is not None:
        headers.append(("flowcast-origin-rows", ",".join(map(str, rows)).encode()))
    own = [(k, v) for k, v in (record.headers or []) if not k.startswith("flowcast-")]
    return headers + own


def letters_for_rejects(records: Sequence[Any], rejects: Rejects) -> list[DeadLetter]:
    """Dead letters for what a decoder refused: one per (record, reason); the bad rows of a
    frame travel as a frame of those rows."""
    letters: list[DeadLetter] = []
    if not len(rejects):
        return letters
    # rejects are sorted by (position, row); one letter per (position, reason) pair
    pairs = np.unique(np.stack([rejects.position, rejects.reason.astype(np.int32)], axis=1),
                      axis=0)
    for position, code in pairs.tolist():
        rows = rejects.row[(rejects.position == position) & (rejects.reason == code)]
        record = records[position]
        reason = REASONS[code]
        value, row_list = _payload(record, rows)
        readings = max(len(rows), 1)
        letters.append(DeadLetter(record.key, value,
                                  _origin_headers(record, reason, readings, row_list),
                                  reason, readings))
    return letters


def _payload(record: Any, rows: np.ndarray) -> tuple[bytes, list[int] | None]:
    value = record.value if record.value is not None else b""
    whole = rows.min() < 0 if len(rows) else True
    if whole or not is_arrow_frame(record.value, record.headers):
        return value, None
    try:
        return frame_rows(value, rows), rows.tolist()
    except FrameError:
        return value, rows.tolist()


def letters_for_readings(records: Sequence[Any], source: np.ndarray,
                         batch: RoadBatch | SpotBatch, reason: str,
                         city: City) -> list[DeadLetter]:
    """Dead letters for decoded readings the engine refused (``source``: the record each came
    from). A JSON record goes back as it arrived; readings from a frame go as a new frame
    holding just them."""
    letters: list[DeadLetter] = []
    if not len(source):
        return letters
    positions, first = np.unique(source, return_index=True)
    for position in positions[np.argsort(first)].tolist():
        record = records[position]
        picked = np.flatnonzero(source == position)
        if is_arrow_frame(record.value, record.headers):
            value = encode_arrow(batch.take(picked), city)
        else:
            value = record.value if record.value is not None else b""
        letters.append(DeadLetter(record.key, value,
                                  _origin_headers(record, reason, len(picked), None),
                                  reason, len(picked)))
    return letters
