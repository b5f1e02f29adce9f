"""SIGINT/SIGTERM -> a flag the trading loop polls between bars (graceful shutdown)."""

from __future__ import annotations

import signal
import threading


class ShutdownFlag:
    """Set once a stop was requested; remembers which signal asked."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None

    def request(self, name: str = "request") -> None:
        self.signal_name = self.signal_name or name
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


def install_shutdown_handlers(flag: ShutdownFlag) -> None:
    """SIGINT and SIGTERM set ``flag`` instead of killing the process (main thread only)."""

    def handler(signum: int, _frame: object) -> None:
        flag.request(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


__all__ = ["ShutdownFlag", "install_shutdown_handlers"]
