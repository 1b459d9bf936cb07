"""Number flags: click's ``IntRange`` / ``FloatRange`` with one-line errors that say what to change.

``type=WholeNumber(min=1)`` or ``type=Number(min=0, max=1, min_open=True, max_open=True)`` on a
``click.option`` checks the value while the command line is parsed. A refused value is a
:class:`FlowcastUserError` naming the flag, what it takes and what it got (``--sensors must be at
least 1, got 0``), which ``flowcast.cli.main`` prints as one ``error:`` line with exit status 2,
instead of click's usage block. ``expects`` words the requirement when the range alone would not
say it (``"0 (as fast as possible) or a positive number"``).

Kept free of heavy imports: ``flowcast simulate`` uses them too.
"""

from __future__ import annotations

import math
from typing import Any

import click

from flowcast.errors import FlowcastUserError

__all__ = ["LEARNING_RATE", "TEST_FRACTION", "Number", "WholeNumber"]


class _InWords:
    """What a number flag takes, in words, and the one error line when it gets anything else
    (mixed into click's range types, whose ``min``/``max``/``*_open`` it reads)."""

    kind = "a number"  # what a value that is no number at all should have been
    min: Any
    max: Any
    min_open: bool
    max_open: bool
    _number_class: Any

    def __init__(self, min: float | None = None, max: float | None = None, *,
                 min_open: bool = False, max_open: bool = False,
                 expects: str | None = None) -> None:
        super().__init__(min, max, min_open, max_open)  # type: ignore[call-arg]
        self.expects = expects

    def check(self, flag: str, value: Any) -> Any:
        """``value`` (text from the command line) as a number within the range, else a
        :class:`FlowcastUserError` naming ``flag``."""
        try:
            number = self._number_class(value)
        except (TypeError, ValueError):
            raise FlowcastUserError(f"{flag} must be {self.expects or self.kind}, "
                                    f"got {value!r}") from None
        try:
            number = super().convert(number, None, None)  # type: ignore[misc]
        except click.BadParameter:
            number = math.nan
        if not math.isfinite(number):
            raise FlowcastUserError(f"{flag} must be {self.expects or self.range_in_words()}, "
                                    f"got {value}")
        return number

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        """click's hook: :meth:`check` under the option's longest name."""
        flag = max(param.opts, key=len) if param is not None and param.opts else "the value"
        return self.check(flag, value)

    def range_in_words(self) -> str:
        """The range as a reader says it: ``at least 1``, ``between 0 and 1 (exclusive)``."""
        low = None if self.min is None else (
            f"more than {self.min:g}" if self.min_open else f"at least {self.min:g}")
        high = None if self.max is None else (
            f"less than {self.max:g}" if self.max_open else f"at most {self.max:g}")
        if low and high and self.min_open == self.max_open:
            exclusive = " (exclusive)" if self.min_open else ""
            return f"between {self.min:g} and {self.max:g}{exclusive}"
        if low and high:
            return f"{low} and {high}"
        return low or high or self.kind


class WholeNumber(_InWords, click.IntRange):
    """An integer flag within ``[min, max]`` (either bound may be left out or open)."""

    kind = "a whole number"


class Number(_InWords, click.FloatRange):
    """A finite real-number flag within ``[min, max]`` (either bound may be left out or open)."""

    kind = "a number"


TEST_FRACTION = Number(0, 1, min_open=True, max_open=True)
"""``--test-fraction``: the share of the data's end that is scored, in (0, 1)."""

LEARNING_RATE = Number(0, 1, min_open=True, expects="a number in (0, 1]")
"""``--learning-rate``: LightGBM's shrinkage, in (0, 1]."""
