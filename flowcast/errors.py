"""Exceptions that carry a message meant for the person at the keyboard."""

from __future__ import annotations


class FlowcastUserError(Exception):
    """A mistake the user can fix (bad file, bad flag, missing dataset).

    The CLI prints ``str(err)`` on one line and exits with status 2; no traceback.
    The message must say what is wrong and what to change.
    """


class CityFileError(FlowcastUserError):
    """The city registry file is invalid; the message names the feature and the field."""


class DatasetError(FlowcastUserError):
    """An on-disk dataset is missing, malformed, or does not fit the request."""


class ImportFileError(FlowcastUserError):
    """A CSV given to ``flowcast import`` cannot be read; the message names the line."""
