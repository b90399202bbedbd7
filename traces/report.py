"""What a reader did to the input: rows read, rows skipped by reason, and notes.

Nothing is dropped silently: every skipped row is counted under a reason, with the
first few row numbers kept as examples so the user can look them up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class SkipReason:
    reason: str
    count: int
    example_rows: tuple[int, ...]


@dataclass(slots=True)
class SkipReport:
    """Filled by a reader while it reads; frozen in spirit once returned."""

    source: str
    rows_read: int = 0
    _counts: dict[str, int] = field(default_factory=dict)
    _examples: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, row: int, count: int = 1) -> None:
        """Count `count` rows skipped for `reason`; `row` is a 1-based data-row example."""
        self._counts[reason] = self._counts.get(reason, 0) + count
        ex = self._examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(row)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def reasons(self) -> tuple[SkipReason, ...]:
        """Reasons by descending count, then name (deterministic)."""
        return tuple(
            SkipReason(r, c, tuple(self._examples.get(r, ())))
            for r, c in sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )

    @property
    def num_skipped(self) -> int:
        return sum(self._counts.values())

    def count(self, reason: str) -> int:
        return self._counts.get(reason, 0)

    def merge(self, other: SkipReport) -> None:
        self.rows_read += other.rows_read
        for r in other.reasons:
            self._counts[r.reason] = self._counts.get(r.reason, 0) + r.count
            ex = self._examples.setdefault(r.reason, [])
            ex.extend(r.example_rows[: max(0, MAX_EXAMPLES - len(ex))])
        self.notes.extend(f"{other.source}: {n}" for n in other.notes)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"{self.source}: read {self.rows_read} rows, kept {self.rows_read - self.num_skipped}, "
               f"skipped {self.num_skipped}"]
        for r in self.reasons:
            ex = ", ".join(str(x) for x in r.example_rows)
            out.append(f"  skipped {r.count}: {r.reason} (e.g. rows {ex})")
        out.extend(f"  note: {n}" for n in self.notes)
        return out
