"""The promotion gate: does a candidate model beat the champion by enough to replace it?

Three uplifts are checked against thresholds (spec §17.5): precision of LONG calls,
hit ratio (share of trades that made money) and Sharpe ratio, each measured on the same
out-of-sample window for candidate and champion. With ``require_all`` every check must
pass; otherwise any one suffices. A missing or non-finite metric fails its check. The
decision carries a checklist that renders as JSON (for the event log) and Markdown (for
the human who signs it off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

PROMOTE = "PROMOTE"
REJECT = "REJECT"


@attrs.frozen(kw_only=True)
class PromotionThresholds:
    """Minimum uplifts (candidate minus champion) a candidate needs."""

    min_precision_uplift: float = 0.02
    min_hit_ratio_uplift: float = 0.02
    min_sharpe_uplift: float = 0.05
    require_all: bool = True

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class Scorecard:
    """Out-of-sample figures of one model: LONG precision, hit ratio, Sharpe ratio."""

    precision: float
    hit_ratio: float
    sharpe_ratio: float

    def to_dict(self) -> dict[str, float | None]:
        return {k: (v if math.isfinite(v) else None) for k, v in attrs.asdict(self).items()}


@attrs.frozen(kw_only=True)
class GateCheck:
    """One line of the checklist."""

    name: str
    candidate: float
    champion: float
    uplift: float
    threshold: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None
        return {"name": self.name, "candidate": clean(self.candidate), "champion": clean(self.champion),
                "uplift": clean(self.uplift), "threshold": self.threshold, "passed": self.passed}


@attrs.frozen(kw_only=True)
class PromotionDecision:
    """Verdict (``PROMOTE``/``REJECT``), the reason, and the checklist behind it."""

    candidate_id: str
    champion_id: str | None
    verdict: str
    reason: str
    checks: tuple[GateCheck, ...]
    thresholds: PromotionThresholds
    context: Mapping[str, Any] = attrs.Factory(dict)

    @property
    def promote(self) -> bool:
        return self.verdict == PROMOTE

    def checklist(self) -> dict[str, Any]:
        """JSON-ready checklist (what ``PromotionDecided`` carries)."""
        return {
            "candidate_model": self.candidate_id,
            "champion_model": self.champion_id,
            "checks": [c.to_dict() for c in self.checks],
            "thresholds": self.thresholds.to_dict(),
            "recommendation": self.verdict,
            "reason": self.reason,
            "context": dict(self.context),
        }

    def to_markdown(self) -> str:
        """A human-readable checklist with pass/fail marks and the sign-off list."""
        lines = [
            f"# Promotion checklist: {self.candidate_id}",
            "",
            f"- Candidate: `{self.candidate_id}`",
            f"- Champion: `{self.champion_id or 'none'}`",
            f"- Rule: {'every check must pass' if self.thresholds.require_all else 'any check may pass'}",
        ]
        tables = []
        for key, value in sorted(self.context.items()):
            if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                tables.append((key, value))
            else:
                lines.append(f"- {key.replace('_', ' ').capitalize()}: {value}")
        lines += ["", "| Check | Candidate | Champion | Uplift | Minimum | Result |",
                  "|---|---:|---:|---:|---:|:---:|"]
        for c in self.checks:
            mark = "PASS ✅" if c.passed else "FAIL ❌"
            lines.append(f"| {c.name} | {_fmt(c.candidate)} | {_fmt(c.champion)} | {_fmt(c.uplift, signed=True)} "
                         f"| {c.threshold:+.4f} | {mark} |")
        for key, rows in tables:
            headers = list(rows[0])
            lines += ["", f"### {key.replace('_', ' ').capitalize()}", "", "| " + " | ".join(headers) + " |",
                      "|" + "---|" * len(headers)]
            for row in rows:
                lines.append("| " + " | ".join(_cell(row.get(h)) for h in headers) + " |")
        lines += ["", f"**Recommendation: {self.verdict}** — {self.reason}", "",
                  "## Before deployment", "",
                  "- [ ] Metrics measured on the same out-of-sample window for both models",
                  "- [ ] Model files verified against the registry manifest (SHA-256)",
                  "- [ ] Rollback path known: `sensequant models rollback`", "",
                  "## Sign-off", "", "- [ ] ML lead", "- [ ] Quant lead", "- [ ] Risk manager", ""]
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _fmt(value)
    return "n/a" if value is None else str(value)


def _fmt(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def evaluate_promotion(candidate: Scorecard, champion: Scorecard | None, *, candidate_id: str,
                       champion_id: str | None = None,
                       thresholds: PromotionThresholds = PromotionThresholds(),
                       context: Mapping[str, Any] | None = None) -> PromotionDecision:
    """Compare a candidate with the champion and decide.

    With no champion (first model) the candidate is measured against zero uplift
    baselines of 0 precision, 0 hit ratio and 0 Sharpe, so it must still show a
    positive edge of at least the thresholds. A NaN metric on either side fails its check.
    """
    base = champion if champion is not None else Scorecard(precision=0.0, hit_ratio=0.0, sharpe_ratio=0.0)
    specs = (("precision", candidate.precision, base.precision, thresholds.min_precision_uplift),
             ("hit_ratio", candidate.hit_ratio, base.hit_ratio, thresholds.min_hit_ratio_uplift),
             ("sharpe_ratio", candidate.sharpe_ratio, base.sharpe_ratio, thresholds.min_sharpe_uplift))
    checks = []
    for name, cand, champ, minimum in specs:
        uplift = cand - champ
        passed = math.isfinite(uplift) and uplift >= minimum - 1e-12
        checks.append(GateCheck(name=name, candidate=cand, champion=champ, uplift=uplift, threshold=minimum,
                                passed=passed))
    passed_names = [c.name for c in checks if c.passed]
    failed_names = [c.name for c in checks if not c.passed]
    ok = not failed_names if thresholds.require_all else bool(passed_names)
    if ok and not failed_names:
        reason = "All validation criteria passed."
    elif ok:
        reason = f"Passed {', '.join(passed_names)} (any-criterion rule); failed {', '.join(failed_names)}."
    elif thresholds.require_all:
        reason = f"Failed {', '.join(failed_names)}; every criterion must pass."
    else:
        reason = "No validation criterion passed."
    return PromotionDecision(candidate_id=candidate_id, champion_id=champion_id,
                             verdict=PROMOTE if ok else REJECT, reason=reason, checks=tuple(checks),
                             thresholds=thresholds, context=dict(context or {}))
