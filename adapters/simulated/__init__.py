"""Simulated venue, clock and replay feed: production code used by backtests, validation and paper."""

from adapters.simulated.broker import BrokerConfig, SimulatedBroker, SlippageConfig
from adapters.simulated.clock import SimulatedClock
from adapters.simulated.replay import ReplayBarSource

__all__ = ["BrokerConfig", "SimulatedBroker", "ReplayBarSource", "SimulatedClock", "SlippageConfig"]
