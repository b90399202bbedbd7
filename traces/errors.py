"""User-facing errors: one line naming file, row, field, what was expected and what was found.

Every layer raises `UserError` (or a subclass) for mistakes in the user's input; the CLI
prints `str(err)` on one line and exits with status 2. Anything else is a bug (exit 1).
"""

from __future__ import annotations

from os import PathLike


class UserError(Exception):
    """A mistake in the user's input or flags; the message is shown as is, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class TraceError(UserError):
    """A malformed input file: where (file, row, field) and what (expected, found)."""

    def __init__(
        self,
        path: str | PathLike[str] | None,
        message: str | None = None,
        *,
        row: int | None = None,
        field: str | None = None,
        expected: str | None = None,
        found: object = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        self.field = field
        self.expected = expected
        self.found = found
        where = self.path or "<input>"
        if row is not None:
            where += f":{row}"
        parts = [where + ":"]
        if field is not None:
            parts.append(f"field '{field}':")
        if message:
            parts.append(message if expected is None else message + ";")
        if expected is not None:
            parts.append(f"expected {expected}")
            if found is not None:
                parts.append(f"but found {_short(found)}")
        super().__init__(" ".join(parts))


def _short(value: object, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
