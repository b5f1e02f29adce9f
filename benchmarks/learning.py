"""Benchmark: the EOD learning chain on the shipped daily bars.

Trains the LightGBM teacher and the distilled logistic student (swing labels: 0.5 % over
5 sessions, moves over 25 % dropped as corporate actions) for both feature sets —
``strategy`` (the swing strategy's own columns, usable inside its backtests) and
``default`` (a richer indicator set) — and prints rows, fit times and held-out metrics.
Then backtests the strategy student against the strategy without a model
(``validate``) and times a registry load with hash verification and a single prediction.

Run: .venv/bin/python benchmarks/learning.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import InMemoryEventStore  # noqa: E402
from adapters.ml.predictor import load_predictor  # noqa: E402
from adapters.ml.registry import ModelRegistry  # noqa: E402
from applications.services.learning import LearningConfig, train_models
from applications.services.validation import ValidationConfig, validate_models


def main() -> None:
    store = InMemoryEventStore()
    registry = ModelRegistry(tempfile.mkdtemp(prefix="sq-models-"))
    student_id = None
    for features in ("strategy", "default"):
        out = train_models(LearningConfig(features=features), store=store, registry=registry)
        print(f"features={features}: {len(out.teacher.record.feature_names)} columns, train rows {out.train_rows}, "
              f"test rows {out.test_rows}, chain {out.seconds_total:.2f}s")
        for role, rep in (("teacher", out.teacher), ("student", out.student)):
            t = rep.metrics["test"]
            sc = rep.metrics["signal_scorecard"]
            print(f"  {role:<8} fit {rep.training_seconds:6.3f}s  acc {t['accuracy']:.3f}  macro-F1 {t['f1_macro']:.3f}  "
                  f"macro-AUC {t['auc_macro']:.3f}  AUC/class {t['auc_per_class']}  "
                  f"signal: precision {sc['precision']:.3f} hit {sc['hit_ratio']:.3f} sharpe {sc['sharpe_ratio']:.2f}")
        if "teacher_agreement" in out.student.metrics:
            print(f"  student agrees with teacher on {out.student.metrics['teacher_agreement']:.3f} of test rows")
        base = {"LONG": t["support_per_class"]["LONG"], "SHORT": t["support_per_class"]["SHORT"],
                "NOOP": t["support_per_class"]["NOOP"]}
        print(f"  test class counts {base} (majority-class accuracy {max(base.values()) / sum(base.values()):.3f})")
        if features == "strategy":
            student_id = out.student.record.model_id
    t0 = time.perf_counter()
    v = validate_models(student_id, store=store, registry=registry, config=ValidationConfig(folds=3))
    print(f"validate {student_id} vs strategy-without-model over {v.window[0]}..{v.window[1]}: "
          f"{time.perf_counter() - t0:.2f}s, verdict {v.decision.verdict}")
    for c in v.decision.checks:
        print(f"  {c.name:<13} candidate {c.candidate:.4f} champion {c.champion:.4f} uplift {c.uplift:+.4f}")
    t0 = time.perf_counter()
    pred = load_predictor(registry, student_id)
    t1 = time.perf_counter()
    features = {"sma_20": 101.0, "sma_50": 100.0, "rsi_5": 35.0, "atr_14": 2.0}
    for _ in range(1000):
        pred.predict(features)
    t2 = time.perf_counter()
    print(f"registry load + SHA-256 verify {1000 * (t1 - t0):.1f} ms; predict {1e6 * (t2 - t1) / 1000:.0f} µs/call")


if __name__ == "__main__":
    main()
