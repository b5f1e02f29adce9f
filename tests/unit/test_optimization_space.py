"""Search spaces from TOML: paths, distributions, conditions, grid values and clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import optuna
import pytest

from applications.services.books import BacktestConfig
from applications.services.optimization.objective import Constraints, composite_score, parse_objective
from applications.services.optimization.space import apply_params, load_space, parse_space
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def space(text: str, book: str = "swing"):
    return parse_space(tomllib.loads(text), book)


def test_shipped_spaces_parse():
    for book, name in (("swing", "swing.toml"), ("swing", "swing_grid.toml"), ("intraday", "intraday.toml")):
        parsed = load_space(ROOT / "data" / "optimize" / name, book)
        assert parsed.parameters
    assert load_space(ROOT / "data" / "optimize" / "swing_grid.toml", "swing").grid_size() == 6


def test_paths_are_relative_to_the_strategy_unless_they_name_a_section():
    s = space("""
[params.sma_fast]
type = "int"
low = 10
high = 30
step = 5
[params."stops.stop_loss"]
type = "float"
low = 1.0
high = 4.0
log = true
[params."risk.daily_loss_cap"]
type = "categorical"
choices = [0.01, 0.02]
""")
    assert [p.path for p in s.parameters] == ["swing.strategy.sma_fast", "swing.strategy.stops.stop_loss",
                                             "risk.daily_loss_cap"]
    assert s.parameters[0].distribution() == optuna.distributions.IntDistribution(10, 30, step=5)
    assert s.parameters[1].distribution() == optuna.distributions.FloatDistribution(1.0, 4.0, log=True)
    assert s.parameters[0].grid_values() == [10, 15, 20, 25, 30]
    assert s.baseline(BacktestConfig()) == {"swing.strategy.sma_fast": 20, "swing.strategy.stops.stop_loss": 2.0,
                                            "risk.daily_loss_cap": BacktestConfig().risk.daily_loss_cap}


def test_conditional_parameters_are_sampled_only_when_their_condition_holds():
    s = space("""
[params.allow_short]
type = "categorical"
choices = [true, false]
[params.rsi_entry_max]
type = "float"
low = 30.0
high = 40.0
when = { allow_short = true }
""")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = []
    for _ in range(12):
        trial = study.ask()
        values = s.suggest(trial)
        seen.append(values)
        study.tell(trial, 0.0)
    assert all(("swing.strategy.rsi_entry_max" in v) == v["swing.strategy.allow_short"] for v in seen)
    assert {v["swing.strategy.allow_short"] for v in seen} == {True, False}
    with pytest.raises(ConfigError, match="grid search cannot hold conditional"):
        s.grid()


@pytest.mark.parametrize("text,message", [
    ("[params.sma_fastt]\ntype='int'\nlow=1\nhigh=2", r"params.sma_fastt: no config field 'swing.strategy.sma_fastt'"),
    ("[params.stops]\ntype='int'\nlow=1\nhigh=2", r"params.stops: swing.strategy.stops is a config section"),
    ("[params.sma_fast]\ntype='integer'\nlow=1\nhigh=2", r"params.sma_fast.type must be one of int, float, categorical"),
    ("[params.sma_fast]\ntype='int'\nlow=5\nhigh=2", r"params.sma_fast: low \(5\) must be below high \(2\)"),
    ("[params.sma_fast]\ntype='int'\nhigh=2", r"params.sma_fast.low is required"),
    ("[params.sma_fast]\ntype='int'\nlow=1\nhigh=2\nstepp=1", r"params.sma_fast: unknown key\(s\) stepp"),
    ("[params.sma_fast]\ntype='int'\nlow=1.5\nhigh=2", r"params.sma_fast: low, high and step of an int"),
    ("[params.trend_scale]\ntype='float'\nlow=0.0\nhigh=1.0\nlog=true", r"params.trend_scale: a log-scale parameter"),
    ("[params.allow_short]\ntype='categorical'\nchoices=[]", r"params.allow_short.choices must be a non-empty list"),
    ("[params.sma_fast]\ntype='int'\nlow=1\nhigh=2\nwhen={allow_short=true}", r"'allow_short' must be a parameter defined above"),
    ("[paramz.sma_fast]\ntype='int'", r"unknown table\(s\) paramz"),
    ("[study]\nsampler='tpe'", r"no \[params.<name>\] tables"),
])
def test_errors_name_the_key(text, message):
    with pytest.raises(ConfigError, match=message):
        space(text)


def test_a_float_grid_needs_a_step():
    s = space("[params.trend_scale]\ntype='float'\nlow=0.01\nhigh=0.1")
    with pytest.raises(ConfigError, match="grid search needs a step"):
        s.grid()


def test_apply_params_sets_nested_paths_without_touching_the_layer():
    layer = {"swing": {"symbols": ["TCS"]}}
    out = apply_params(layer, {"swing.strategy.sma_fast": 15, "risk.daily_loss_cap": 0.01})
    assert out == {"swing": {"symbols": ["TCS"], "strategy": {"sma_fast": 15}}, "risk": {"daily_loss_cap": 0.01}}
    assert layer == {"swing": {"symbols": ["TCS"]}}


def test_composite_follows_the_spec_weights():
    metrics = {"sharpe": 1.5, "precision": 0.6, "hit_ratio": 0.5, "win_rate": 0.4}
    # 0.4 * (1.5 / 3) + 0.3 * 0.6 + 0.2 * 0.5 + 0.1 * 0.4 = 0.2 + 0.18 + 0.1 + 0.04
    assert composite_score(metrics) == pytest.approx(0.52)
    # Sharpe is clipped to [-1, 1] after scaling.
    assert composite_score({**metrics, "sharpe": 9.0}) == pytest.approx(0.4 + 0.32)
    assert composite_score({**metrics, "sharpe": -9.0}) == pytest.approx(-0.4 + 0.32)


def test_objective_and_constraints_parse_with_clear_errors():
    objective = parse_objective("sharpe,win_rate", {}, {"min_trades": 5}, {"max_drawdown_pct": 10.0})
    assert objective.multi and objective.metrics == ("sharpe", "win_rate")
    assert objective.constraints == Constraints(min_trades=5, max_drawdown_pct=10.0)
    assert objective.constraints.feasible({"trades": 5, "max_drawdown_pct": -9.9})
    assert not objective.constraints.feasible({"trades": 4, "max_drawdown_pct": -1.0})
    assert not objective.constraints.feasible({"trades": 50, "max_drawdown_pct": -10.5})
    with pytest.raises(ConfigError, match="objective 'sharp' is unknown"):
        parse_objective("sharp", {}, {})
    with pytest.raises(ConfigError, match=r"\[constraints\]"):
        parse_objective(None, {}, {"min_trade": 1})
    with pytest.raises(ConfigError, match=r"\[objective.weights\]"):
        parse_objective(None, {"weights": {"sharp": 1.0}}, {})


def test_deployment_thresholds_are_80_percent_of_the_out_of_sample_figures():
    from applications.services.optimization.artifacts import deployment_plan, toml_text
    from applications.services.optimization.objective import Objective
    from applications.services.optimization.study import StudyOutcome, TrialRecord

    best = TrialRecord(number=3, state="complete", params={"swing.strategy.sma_fast": 15}, values=[0.4],
                       metrics={"sharpe": 2.0}, feasible=True, baseline=False, run_id="r", seconds=1.0)
    outcome = StudyOutcome(name="s", objective=Objective(), sampler="grid", trials=[best], best=[3], baseline=None,
                           deflated_sharpe=0.99, pbo=0.1, seconds=1.0)
    plan = deployment_plan(outcome, {"sharpe": 1.0, "precision": 0.5, "hit_ratio": 0.6, "win_rate": 0.45,
                                     "composite": 0.4, "max_drawdown_pct": -8.0})
    assert plan["figures_source"].startswith("out-of-sample")
    assert plan["thresholds"] == {"min_sharpe": 0.8, "min_precision": 0.4, "min_hit_ratio": 0.48,
                                  "min_win_rate": 0.36, "min_composite": 0.32, "max_drawdown_pct": -10.0}
    assert plan["caution"] == ""
    assert deployment_plan(outcome, None)["figures_source"].startswith("in-sample")
    doc = {"strategy": "swing", "start": "2018-01-01", "swing": {"symbols": ["TCS"], "strategy": {"sma_fast": 15,
                                                                                                    "stops": {"stop_loss": 2.5}}}}
    assert tomllib.loads(toml_text(doc)) == doc
