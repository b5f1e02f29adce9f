"""Two runs side by side: each book's summary, which run's strategy did better, and
whether the difference in per-trade returns is significant (Welch's t-test)."""

from __future__ import annotations

from typing import Any

import attrs

from applications.analytics.metrics import (
    CompositeWeights,
    WelchTest,
    composite_score,
    compute_metrics,
    json_safe,
    welch_t_test,
)
from applications.analytics.projections import RunData
from applications.dashboard.viewmodel.cards import book_summaries, summary_dict


@attrs.frozen(kw_only=True)
class RunComparison:
    """``left``/``right``: run id -> book -> summary (as ``runs show --json``); ``scores``:
    the analytics composite score of each run's traces (40 % Sharpe, 30 % precision, 30 %
    win rate); ``better``: the run id with the higher score, ``"tie"``, or None without traces."""

    left_run: str
    right_run: str
    left: dict[str, dict[str, Any]]
    right: dict[str, dict[str, Any]]
    scores: dict[str, float | None]
    better: str | None
    t_test: WelchTest

    def to_dict(self) -> dict[str, Any]:
        return json_safe(attrs.asdict(self))


def compare_runs(left: RunData, right: RunData, *, weights: CompositeWeights = CompositeWeights(),
                 alpha: float = 0.05, tie_tolerance: float = 1e-12) -> RunComparison:
    """Compare two (cut, filtered) runs on what they traded."""
    ids = [left.run_ids[0] if left.run_ids else "left", right.run_ids[0] if right.run_ids else "right"]
    scores: dict[str, float | None] = {}
    for run_id, run in zip(ids, (left, right)):
        scores[run_id] = composite_score(compute_metrics(run.traces), weights) if len(run.traces) else None
    a, b = scores[ids[0]], scores[ids[1]]
    if a is None and b is None:
        better = None
    elif b is None or (a is not None and a - b > tie_tolerance):
        better = ids[0]
    elif a is None or b - a > tie_tolerance:
        better = ids[1]
    else:
        better = "tie"
    test = welch_t_test(left.trades["pnl_pct"].to_numpy(dtype=float), right.trades["pnl_pct"].to_numpy(dtype=float),
                        alpha)
    return RunComparison(left_run=ids[0], right_run=ids[1],
                         left={k: summary_dict(v) for k, v in book_summaries(left).items()},
                         right={k: summary_dict(v) for k, v in book_summaries(right).items()},
                         scores=scores, better=better, t_test=test)
