"""Opening one Arrow IPC stream frame, checked whole before anything computes on it.

A frame comes off the wire from anyone, so its bytes are not trusted: Arrow's kernels
(``dictionary_encode``, casts, ``take``, ``to_numpy``) assume well-formed buffers and may read
out of bounds, or crash the process, on a corrupted one. :func:`read_frame` therefore checks the
IPC structure (a schema, at least one record batch, nothing cut and nothing after the end),
that every field name is UTF-8, and ``RecordBatch.validate(full=True)`` on every batch (buffer
sizes, offsets, UTF-8 of strings, dictionary indices in range). Whatever goes wrong becomes a
:class:`FrameError`, never another exception. Pulling columns out is
:mod:`flowcast.ingest.wire.arrow_decode`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from flowcast.ingest.wire.schema import UNDECODABLE


class FrameError(ValueError):
    """A frame that cannot be read as a whole; ``reason`` is a rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def read_frame(value: bytes | None) -> pa.Table:
    """The frame's rows as a table whose every batch passed full validation. Raises
    :class:`FrameError` (undecodable) for an empty value, bytes that are no IPC stream, a
    stream cut short (a schema but no record batch, or a batch cut in the middle), bytes
    after the end-of-stream marker, a field name that is not UTF-8, or a batch whose buffers
    do not hold what its schema says."""
    if not value:
        raise FrameError(UNDECODABLE, "empty record")
    try:
        source = pa.BufferReader(pa.py_buffer(value))
        with pa.ipc.open_stream(source) as reader:
            schema = reader.schema
            _check_names(schema)
            batches = []
            for batch in reader:
                batch.validate(full=True)
                batches.append(batch)
        rest = len(value) - source.tell()
    except FrameError:
        raise
    except Exception as err:  # any failure of a corrupted frame is a refusal
        detail = f"not a valid Arrow IPC stream: {describe_error(err)}"
        raise FrameError(UNDECODABLE, detail) from None
    if not batches:
        raise FrameError(UNDECODABLE, "truncated frame: a schema but no record batch")
    if rest:
        raise FrameError(UNDECODABLE, f"{rest} bytes after the end of the Arrow stream")
    return pa.Table.from_batches(batches, schema)


def frame_rows(value: bytes, rows: np.ndarray) -> bytes:
    """A frame holding only the given rows of ``value`` (to dead-letter the bad rows of a
    frame whose good rows were kept). Raises :class:`FrameError` if ``value`` is no valid
    frame or a row is not in it."""
    table = read_frame(value)
    try:
        picked = table.take(pa.array(np.asarray(rows, np.int64)))
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(picked)
        return sink.getvalue().to_pybytes()
    except Exception as err:  # a row outside the frame, say
        detail = f"cannot cut rows from frame: {describe_error(err)}"
        raise FrameError(UNDECODABLE, detail) from None


def _check_names(schema: pa.Schema) -> None:
    """Every field name decodes as UTF-8 (pyarrow raises ``UnicodeDecodeError`` the first time
    one is read otherwise)."""
    for i in range(len(schema)):
        try:
            _ = schema.field(i).name  # reading it decodes it
        except UnicodeDecodeError as err:
            raise FrameError(UNDECODABLE, f"field {i} has a name that is not UTF-8: "
                                          f"{err.object[:64]!r}") from None


def describe_error(err: BaseException) -> str:
    """``Type: message`` of an exception, cut to 300 characters, for a refusal's detail."""
    try:
        return f"{type(err).__name__}: {err}"[:300]
    except Exception:  # a message that cannot be shown
        return type(err).__name__
