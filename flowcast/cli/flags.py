"""Number flags shared by several subcommands, with one-line errors that say what to change.

Kept free of heavy imports: ``flowcast simulate`` uses them too.
"""

from __future__ import annotations

from flowcast.errors import FlowcastUserError

__all__ = ["parse_int", "parse_test_fraction"]


def parse_int(flag: str, text: str | None, default: int | None, minimum: int = 1) -> int | None:
    """``text`` as a whole number >= ``minimum`` (``default`` when None)."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise FlowcastUserError(f"{flag} must be a whole number, got {text!r}") from None
    if value < minimum:
        raise FlowcastUserError(f"{flag} must be at least {minimum}, got {value}")
    return value


def parse_test_fraction(text: str | None) -> float:
    """``--test-fraction``: the share of the data's end that is scored, in (0, 1); 0.2 when
    not given."""
    if text is None:
        return 0.2
    try:
        value = float(text)
    except ValueError:
        raise FlowcastUserError(f"--test-fraction must be a number between 0 and 1, got "
                                f"{text!r}") from None
    if not 0 < value < 1:
        raise FlowcastUserError(f"--test-fraction must be between 0 and 1 (exclusive), got "
                                f"{text}")
    return value
