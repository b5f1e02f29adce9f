"""Operating-system adapters: the wall clock (IST sessions) and process signals."""

from adapters.system.clock import IST, WallClock
from adapters.system.signals import ShutdownFlag, install_shutdown_handlers

__all__ = ["IST", "ShutdownFlag", "WallClock", "install_shutdown_handlers"]
