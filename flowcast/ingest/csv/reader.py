"""Reading CSV tables for ``flowcast import``: sniff the head, read the body fast, name bad lines.

The body is read by pyarrow's multithreaded CSV reader with the column types fixed up front
(numbers as float64, times and ids as strings), so a table of 1e5 rows x 1000 columns is read
and validated without a Python loop per cell. pyarrow does not say on which line a problem
is; only when it reports one do we scan the file line by line (``csv`` module) to find it.

Line numbers in messages are the file's physical line numbers, 1-based, header included.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm.utils import CallbackIOWrapper

from flowcast.errors import ImportFileError
from flowcast.progress import progress_bar

# pyarrow's default null markers: these cells are missing values, never errors.
NULL_VALUES: frozenset[str] = frozenset(pacsv.ConvertOptions().null_values)
PROGRESS_MIN_BYTES = 16 * 1024 * 1024  # below this a progress bar would only flash
_SNIFF_RECORDS = 3

# Decides from the first record and the second (None if there is none) whether the first
# record is a header.
HeaderTest = Callable[[list[str], list[str] | None], bool]


@dataclass(frozen=True)
class CsvHead:
    """What the first lines of a CSV say about it.

    ``header`` is the stripped header cells, or None when the first line is already data;
    ``ncols`` is the number of fields of the first line; ``first_rows`` are up to two data
    records (lists of raw cells) after the header.
    """

    path: Path
    delimiter: str
    header: list[str] | None
    ncols: int
    first_rows: list[list[str]]

    @property
    def header_lines(self) -> int:
        """Number of header records before the data (0 or 1)."""
        return 0 if self.header is None else 1

    def column_label(self, index: int) -> str:
        """How a message names column ``index`` (0-based): its number, and its name if any."""
        if self.header is not None and self.header[index]:
            return f"column {index + 1} ('{self.header[index]}')"
        return f"column {index + 1}"


def is_number(cell: str) -> bool:
    """True when ``cell`` reads as a float (surrounding blanks allowed)."""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell  # Python accepts 1_000; CSV readers do not


def is_missing(cell: str) -> bool:
    """True when ``cell`` is one of the markers read as a missing value."""
    return cell.strip() in NULL_VALUES


def sniff_csv(path: Path, header: bool | None, header_test: HeaderTest) -> CsvHead:
    """Check that ``path`` is a readable, non-empty CSV and describe its head.

    ``header`` forces (True/False) or leaves to ``header_test`` (None) whether the first record
    is a header; ``header_test(first, second)`` gets the first two records (second may be None).
    """
    if not path.exists():
        raise ImportFileError(f"{path} does not exist; check the path")
    if path.is_dir():
        raise ImportFileError(f"{path} is a directory; give the CSV file itself")
    first_line = _first_line(path)
    delimiter = _guess_delimiter(first_line)
    records = list(itertools.islice(_records(path, delimiter), _SNIFF_RECORDS))
    if not records:
        raise ImportFileError(f"{path.name} is empty; expected a header row or rows of numbers")
    first = records[0][1]
    second = records[1][1] if len(records) > 1 else None
    has_header = header if header is not None else header_test(first, second)
    data = [row for _, row in records[1 if has_header else 0:]][:2]
    if has_header and not data:
        raise ImportFileError(f"{path.name} has a header row but no data rows")
    return CsvHead(path=path, delimiter=delimiter,
                   header=[c.strip() for c in first] if has_header else None,
                   ncols=len(first), first_rows=data)


def read_table(head: CsvHead, *, floats: Sequence[int], strings: Sequence[int] = (),
               progress: bool = False) -> pa.Table:
    """Read the data rows of ``head.path``: columns ``floats`` as float64, ``strings`` as str.

    Other columns are skipped. Column ``i`` of the file is named ``c{i}`` in the table.
    Missing cells (see :data:`NULL_VALUES`) are nulls, NaN once converted to numpy.
    Raises :class:`ImportFileError` naming the line when a row is ragged or a number cell
    is not a number.
    """
    names = [f"c{i}" for i in range(head.ncols)]
    types: dict[str, pa.DataType] = {names[i]: pa.float64() for i in floats}
    types.update({names[i]: pa.string() for i in strings})
    read_options = pacsv.ReadOptions(column_names=names, skip_rows=head.header_lines,
                                     encoding="utf8")
    parse_options = pacsv.ParseOptions(delimiter=head.delimiter)
    convert_options = pacsv.ConvertOptions(
        column_types=types, include_columns=[n for n in names if n in types],
        strings_can_be_null=True, quoted_strings_can_be_null=True)
    try:
        with _open_source(head.path, progress) as source:
            return pacsv.read_csv(source, read_options=read_options,
                                  parse_options=parse_options, convert_options=convert_options)
    except pa.ArrowInvalid as err:
        raise ImportFileError(find_problem(head, str(err), floats)) from None


def find_problem(head: CsvHead, arrow_message: str, floats: Sequence[int]) -> str:
    """Scan the file line by line for what pyarrow complained about; return a one-line message.

    The scan is narrowed by pyarrow's message (which column failed, or that a row was ragged)
    so that it stays cheap on big files.
    """
    check_columns = list(floats)
    check_width = True
    column = re.search(r"In CSV column #(\d+): CSV conversion error", arrow_message)
    if column:
        check_columns, check_width = [int(column.group(1))], False
    elif re.search(r"Expected \d+ columns, got \d+", arrow_message):
        check_columns = []
    for line, row in _records(head.path, head.delimiter, skip=head.header_lines):
        if check_width and len(row) != head.ncols:
            return (f"{head.path.name}: line {line} has {len(row)} fields, expected "
                    f"{head.ncols}; every row needs one field per column")
        for index in check_columns:
            cell = row[index].strip() if index < len(row) else ""
            if cell not in NULL_VALUES and not is_number(cell):
                return (f"{head.path.name}: line {line}, {head.column_label(index)}: '{cell}' "
                        "is not a number; fix the cell, or leave it empty for a missing value")
    first = arrow_message.strip().splitlines()[0] if arrow_message.strip() else "unknown error"
    if "invalid UTF8" in first:
        return f"{head.path.name} is not UTF-8 text; re-save it as UTF-8 and import again"
    return f"{head.path.name} cannot be read as CSV: {first}"


def record_lines(head: CsvHead, rows: Sequence[int]) -> list[int]:
    """File line numbers of the data records ``rows`` (0-based indices into the table rows).

    Blank lines are skipped, as the reader skips them. Used only to word error messages.
    """
    wanted = {row: -1 for row in rows}
    remaining = len(wanted)
    for index, (line, _) in enumerate(_records(head.path, head.delimiter,
                                               skip=head.header_lines)):
        if index in wanted:
            wanted[index] = line
            remaining -= 1
            if remaining == 0:
                break
    return [wanted[row] for row in rows]


def _records(path: Path, delimiter: str, skip: int = 0) -> Iterator[tuple[int, list[str]]]:
    """Non-empty CSV records of ``path`` with the line number each ends on, header skipped."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file, delimiter=delimiter)
            for row in reader:
                if not row:
                    continue
                if skip:
                    skip -= 1
                    continue
                yield reader.line_num, row
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name} is not UTF-8 text; re-save it as UTF-8 and "
                              "import again") from None
    except csv.Error as err:
        raise ImportFileError(f"{path.name} cannot be read as CSV: {err}") from None


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            for line in file:
                if line.strip():
                    return line
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name} is not UTF-8 text; re-save it as UTF-8 and "
                              "import again") from None
    raise ImportFileError(f"{path.name} is empty; expected a header row or rows of numbers")


def _guess_delimiter(line: str) -> str:
    """Comma, unless the first line has none and has semicolons or tabs instead."""
    if "," in line:
        return ","
    for candidate in (";", "\t"):
        if candidate in line:
            return candidate
    return ","


@contextlib.contextmanager
def _open_source(path: Path, progress: bool) -> Iterator[str | IO[bytes]]:
    """The path itself, or for a big file with ``progress`` a binary file whose reads move a
    progress bar (drawn on a terminal only)."""
    size = path.stat().st_size
    if not progress or size < PROGRESS_MIN_BYTES:
        yield str(path)
        return
    with path.open("rb") as raw, progress_bar(total=size, desc=f"reading {path.name}",
                                              unit="B", unit_scale=True, unit_divisor=1024,
                                              leave=False) as bar:
        yield CallbackIOWrapper(bar.update, raw, "read")
