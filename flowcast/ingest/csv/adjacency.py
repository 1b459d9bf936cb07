"""The ``--adjacency`` matrix of ``flowcast import``: an N x N CSV turned into the CSR graph.

Accepted shapes:

- N rows of N numbers, no header (the T-GCN files): row/column i is the CSV's i-th sensor;
- a header row of N sensor ids, then N rows of N numbers: rows and columns are reordered to
  the CSV's sensor order;
- the same with a label column (first header cell empty, then each row starts with its id).

Any nonzero cell (i, j) is a directed edge i -> j (weights are not kept; a symmetric matrix
gives both directions; the diagonal gives self-loops).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flowcast.errors import ImportFileError
from flowcast.ingest.csv.reader import (
    CsvHead,
    is_missing,
    is_number,
    read_table,
    record_lines,
    sniff_csv,
)


def read_adjacency(path: Path, sensor_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read the adjacency CSV at ``path`` for the sensors ``sensor_ids`` (in dataset order).

    Returns the graph as CSR ``(indptr int64 (N+1,), indices int32 (edges,))``, sensor index
    -> sensor index. Raises :class:`ImportFileError` when the file is ragged, not numeric, not
    square, or does not fit the sensors.
    """
    head = sniff_csv(path, None, _is_header)
    matrix, col_ids, row_ids, first_row = _read_matrix(head)
    file = path.name
    rows, cols = matrix.shape
    if rows != cols:
        raise ImportFileError(f"adjacency {file} has {rows} rows and {cols} columns of numbers; "
                              "it must be square (N x N), optionally with a header row of "
                              "sensor ids")
    empty = np.isnan(matrix)
    if empty.any():
        r, c = np.argwhere(empty)[0]
        (line,) = record_lines(head, [int(r) + first_row])
        raise ImportFileError(f"adjacency {file}: line {line}, column {c + 1} is empty; the "
                              "matrix needs a number in every cell (0 for no edge)")
    if cols != len(sensor_ids):
        raise ImportFileError(f"adjacency {file} is {rows}x{cols} but the CSV has "
                              f"{len(sensor_ids)} sensors; give the adjacency of these "
                              f"{len(sensor_ids)} sensors")
    if col_ids is not None:
        order = _order(col_ids, sensor_ids, file, "its header")
        row_order = order if row_ids is None else _order(row_ids, sensor_ids, file,
                                                         "its label column")
        matrix = matrix[np.ix_(row_order, order)]
    return to_csr(matrix != 0)


def to_csr(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr, indices)`` of a boolean N x N matrix: row i lists the j with edge i->j."""
    indptr = np.zeros(edges.shape[0] + 1, dtype=np.int64)
    np.cumsum(edges.sum(axis=1), out=indptr[1:])
    _, indices = np.nonzero(edges)
    return indptr, indices.astype(np.int32)


def _is_header(first: list[str], second: list[str] | None) -> bool:
    cells = [c.strip() for c in first]
    return bool(cells) and (not cells[0] or any(
        c and not is_number(c) and not is_missing(c) for c in cells))


def _read_matrix(head: CsvHead) -> tuple[np.ndarray, list[str] | None, list[str] | None, int]:
    """The numbers of the adjacency, its column ids and row labels if any, and the table row
    index of the matrix's first row (1 when a numeric header was only recognised here)."""
    if head.header is None:
        table = read_table(head, floats=range(head.ncols))
        matrix = np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])
        first = [c.strip() for c in head.first_rows[0]]
        # N + 1 rows whose first holds N distinct whole numbers: numeric sensor ids on top.
        if (matrix.shape[0] == head.ncols + 1 and len(set(first)) == len(first)
                and all(c.lstrip("+-").isdigit() for c in first)):
            return matrix[1:], first, None, 1
        return matrix, None, None, 0
    labelled = not head.header[0] or not is_number(head.first_rows[0][0])
    if not labelled:
        table = read_table(head, floats=range(head.ncols))
        matrix = np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])
        return matrix, list(head.header), None, 0
    table = read_table(head, floats=range(1, head.ncols), strings=[0])
    labels = pd.Series(table.column("c0").to_pandas()).fillna("").str.strip().tolist()
    matrix = np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns[1:]])
    return matrix, list(head.header[1:]), labels, 0


def _order(ids: list[str], sensor_ids: list[str], file: str, where: str) -> np.ndarray:
    """Index into ``ids`` of each sensor of ``sensor_ids``; raise if the sets differ."""
    position = {name: i for i, name in enumerate(ids)}
    if len(position) != len(ids):
        dup = next(name for i, name in enumerate(ids) if position[name] != i)
        raise ImportFileError(f"adjacency {file}: sensor '{dup}' appears twice in {where}")
    missing = [s for s in sensor_ids if s not in position]
    if missing:
        extra = sorted(set(ids) - set(sensor_ids))
        raise ImportFileError(
            f"adjacency {file}: {where} lacks sensor(s) {_few(missing)} of the CSV"
            + (f" and names {_few(extra)} instead" if extra else "")
            + "; it must list the same sensor ids")
    return np.array([position[s] for s in sensor_ids], dtype=np.int64)


def _few(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
