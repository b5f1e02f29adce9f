"""The search space of a study, read from TOML and validated with errors that name the key.

A space file holds one ``[params.<name>]`` table per parameter::

    [params.sma_fast]                    # relative to the book's strategy config
    type = "int"                         # int | float | categorical
    low = 10
    high = 30
    step = 5                             # optional; int default 1, float: continuous
    [params."stops.stop_loss"]
    type = "float"
    low = 1.0
    high = 4.0
    log = true                           # log scale (low > 0, no step)
    [params."risk.max_position_pct"]     # a top-level config section: absolute path
    type = "categorical"
    choices = [0.05, 0.1]
    [params.rsi_short_min]
    type = "float"
    low = 55.0
    high = 75.0
    when = { allow_short = true }        # conditional: only sampled when allow_short is true

A name whose first part is a section of ``BacktestConfig`` (``risk``, ``sizing``, ``costs``,
``gate``, ``slippage``, ...) is a path from the config's root; any other name is relative to
``<book>.strategy`` of the optimised book. Optional ``[study]``, ``[objective]`` and
``[constraints]`` tables give defaults the command line overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import optuna

from applications.services.books import BacktestConfig
from applications.wiring.config import read_toml
from core.errors import ConfigError

PARAM_TYPES = ("int", "float", "categorical")
_PARAM_KEYS = {"type", "low", "high", "step", "log", "choices", "when"}
TOP_LEVEL = ("study", "objective", "constraints", "params", "backtest")


@attrs.frozen(kw_only=True)
class Parameter:
    """One dimension of the search space."""

    name: str                      # as written in the space file
    path: str                      # dotted path in BacktestConfig
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: dict[str, Any] = attrs.Factory(dict)

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log,
                                                        step=int(self.step or 1))
        if self.kind == "float":
            return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log,
                                                          step=None if self.step is None else float(self.step))
        return optuna.distributions.CategoricalDistribution(list(self.choices))

    def grid_values(self) -> list[Any]:
        """Every value a grid search visits (floats need a step)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ConfigError(f"params.{self.name}: a grid search needs a step for a float parameter "
                              "(or use --sampler random|tpe|nsga2)")
        count = int(round((float(self.high) - float(self.low)) / float(self.step)))
        return [round(float(self.low) + i * float(self.step), 10) for i in range(count + 1)]

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.path, float(self.low), float(self.high), log=self.log,
                                       step=None if self.step is None else float(self.step))
        return trial.suggest_categorical(self.path, list(self.choices))


@attrs.frozen(kw_only=True)
class SearchSpace:
    """The parameters and the file's optional study defaults."""

    book: str
    parameters: list[Parameter]
    study: dict[str, Any] = attrs.Factory(dict)
    objective: dict[str, Any] = attrs.Factory(dict)
    constraints: dict[str, Any] = attrs.Factory(dict)
    backtest: dict[str, Any] = attrs.Factory(dict)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample every active parameter (conditions see the values sampled before them)."""
        values: dict[str, Any] = {}
        for p in self.parameters:
            if all(values.get(self.resolve(k)) == v for k, v in p.when.items()):
                values[p.path] = p.suggest(trial)
        return values

    def resolve(self, name: str) -> str:
        return resolve_path(name, self.book)

    def grid(self) -> dict[str, list[Any]]:
        if any(p.when for p in self.parameters):
            raise ConfigError("a grid search cannot hold conditional parameters (`when`); "
                              "use --sampler random|tpe|nsga2")
        return {p.path: p.grid_values() for p in self.parameters}

    def grid_size(self) -> int:
        size = 1
        for values in self.grid().values():
            size *= len(values)
        return size

    def baseline(self, config: BacktestConfig) -> dict[str, Any]:
        """The current value of every unconditional parameter in ``config`` (trial 0)."""
        return {p.path: config_value(config, p.path) for p in self.parameters if not p.when}


def resolve_path(name: str, book: str) -> str:
    top = {f.name for f in attrs.fields(BacktestConfig)}
    return name if name.split(".", 1)[0] in top else f"{book}.strategy.{name}"


def config_value(config: Any, path: str) -> Any:
    node = config
    for part in path.split("."):
        node = getattr(node, part)
    return node


def _check_path(path: str, name: str) -> type:
    """The attrs type at ``path`` must exist and end on a plain value; returns its type."""
    node: Any = BacktestConfig
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not (isinstance(node, type) and attrs.has(node)):
            raise ConfigError(f"params.{name}: {'.'.join(parts[:i])} is a value, it has no field {part!r}")
        fields = {f.name: f for f in attrs.fields(attrs.resolve_types(node))}
        if part not in fields:
            raise ConfigError(f"params.{name}: no config field {'.'.join(parts[:i + 1])!r}; known here: "
                              f"{', '.join(sorted(fields))}")
        node = fields[part].type
    if isinstance(node, type) and attrs.has(node):
        raise ConfigError(f"params.{name}: {path} is a config section, name one of its fields")
    return node


def _number(value: Any, key: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    return value


def parse_parameter(name: str, table: Any, book: str) -> Parameter:
    where = f"params.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table with type = \"int\" | \"float\" | \"categorical\"")
    unknown = set(table) - _PARAM_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_PARAM_KEYS))}")
    kind = table.get("type")
    if kind not in PARAM_TYPES:
        raise ConfigError(f"{where}.type must be one of {', '.join(PARAM_TYPES)}, got {kind!r}")
    path = resolve_path(name, book)
    _check_path(path, name)
    when = table.get("when", {})
    if not isinstance(when, Mapping):
        raise ConfigError(f"{where}.when must be a table of parameter = value")
    if kind == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices must be a non-empty list")
        if set(table) & {"low", "high", "step", "log"}:
            raise ConfigError(f"{where}: a categorical parameter takes choices, not low/high/step/log")
        return Parameter(name=name, path=path, kind=kind, choices=tuple(choices), when=dict(when))
    for key in ("low", "high"):
        if key not in table:
            raise ConfigError(f"{where}.{key} is required for a {kind} parameter")
    low, high = _number(table["low"], f"{where}.low"), _number(table["high"], f"{where}.high")
    step = table.get("step")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log must be true or false")
    if kind == "int" and not all(isinstance(v, int) for v in (low, high, step or 1)):
        raise ConfigError(f"{where}: low, high and step of an int parameter must be integers")
    if step is not None and _number(step, f"{where}.step") <= 0:
        raise ConfigError(f"{where}.step must be > 0")
    if low >= high:
        raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
    if log and (low <= 0 or step not in (None, 1)):
        raise ConfigError(f"{where}: a log-scale parameter needs low > 0 and no step")
    return Parameter(name=name, path=path, kind=kind, low=low, high=high, step=step, log=log, when=dict(when))


def parse_space(doc: Mapping[str, Any], book: str, *, source: str = "search space") -> SearchSpace:
    unknown = set(doc) - set(TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {', '.join(sorted(unknown))}; known: {', '.join(TOP_LEVEL)}")
    params = doc.get("params")
    if not isinstance(params, Mapping) or not params:
        raise ConfigError(f"{source}: no [params.<name>] tables; the space needs at least one parameter")
    parameters = [parse_parameter(str(name), table, book) for name, table in params.items()]
    paths = [p.path for p in parameters]
    for p in parameters:
        for key in p.when:
            target = resolve_path(key, book)
            if target not in paths or paths.index(target) >= paths.index(p.path):
                raise ConfigError(f"params.{p.name}.when: {key!r} must be a parameter defined above it")
    sections = {}
    for key in ("study", "objective", "constraints", "backtest"):
        value = doc.get(key, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: [{key}] must be a table")
        sections[key] = dict(value)
    return SearchSpace(book=book, parameters=parameters, **sections)


def load_space(path: Path, book: str) -> SearchSpace:
    if not path.is_file():
        raise ConfigError(f"search space file {path} does not exist (see data/optimize/*.toml)")
    return parse_space(read_toml(path), book, source=str(path))


def apply_params(layer: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A config layer (nested dict) with every dotted ``params`` path set."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in layer.items()}
    for path, value in params.items():
        node = out
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return out
