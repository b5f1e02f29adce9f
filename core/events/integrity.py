"""What a verification of the event log's hash chain found (plain data; the SQL store computes it)."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class IntegrityProblem:
    """One break: where it is (run, first bad ``seq`` if an event) and what is wrong."""

    run_id: str
    seq: int | None
    reason: str

    def describe(self) -> str:
        where = f"run {self.run_id}" + (f", seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.reason}"


@attrs.frozen(kw_only=True)
class IntegrityReport:
    """Result of ``EventStore.verify``: ``ok`` when every checked chain and runs row matches."""

    runs_checked: int
    events_checked: int
    problems: tuple[IntegrityProblem, ...] = ()
    chained: bool = True  # False: the store keeps no hash chain (in-memory), nothing to check

    @property
    def ok(self) -> bool:
        return not self.problems

    def first_break(self) -> str:
        return self.problems[0].describe() if self.problems else ""
