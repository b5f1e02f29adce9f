"""Simulated venue and clock: production code used by backtests and validation."""

from adapters.simulated.broker import BrokerConfig, SimulatedBroker, SlippageConfig
from adapters.simulated.clock import SimulatedClock

__all__ = ["BrokerConfig", "SimulatedBroker", "SimulatedClock", "SlippageConfig"]
