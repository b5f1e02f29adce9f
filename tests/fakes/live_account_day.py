"""One trading day of the swing-account scenario in a real ``sensequant live`` process.

``python -m tests.fakes.live_account_day DB_URL STATE_DIR DAY --entry-price P --stop-price P
[--start HH:MM] [--die-at HH:MM] [--resume RUN | --run-id RUN]``

The broker is the persistent fake SDK in ``STATE_DIR/broker.json`` (the account as the
exchange leaves it), the clock the day's IST wall clock; ``--die-at`` makes the process
SIGKILL itself once its clock reaches that time (nothing flushed, no handler runs). The
live session itself is the production ``run_live`` over the production stores. Prints the
session's result as JSON on a normal end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from tests.fakes.breeze_account import (
    CONFIG,
    CREDS,
    DAYS,
    IST,
    DayClock,
    Exchange,
    PersistentFakeBreezeSDK,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("day", choices=sorted(DAYS))
    parser.add_argument("--die-at")
    parser.add_argument("--start", default="09:10", help="the clock's IST start time")
    parser.add_argument("--resume")
    parser.add_argument("--run-id")
    parser.add_argument("--entry-price", type=float, required=True)
    parser.add_argument("--stop-price", type=float, required=True)
    args = parser.parse_args(argv)

    from applications.roots.live import LiveOptions, run_live
    from applications.wiring.store import open_store

    day = DAYS[args.day]
    sdk = PersistentFakeBreezeSDK(CREDS["BREEZE_API_KEY"], args.state_dir / "broker.json")
    exchange = Exchange(sdk, args.entry_price, args.stop_price, day=day)
    die_at = None
    if args.die_at:
        hours, minutes = (int(x) for x in args.die_at.split(":"))
        die_at = day.replace(hour=hours, minute=minutes, tzinfo=IST)
    start = tuple(int(x) for x in args.start.split(":"))
    clock = DayClock(day, die_at=die_at, on_die=lambda: os.kill(os.getpid(), signal.SIGKILL),
                     start=(start[0], start[1]))
    exchange.now = lambda: clock._now
    store = open_store(args.db_url, durable=True)
    try:
        result = run_live(CONFIG, store=store, confirm_live=True, environ=CREDS,
                          dotenv_path=args.state_dir / "none.env", sdk_factory=lambda _key: sdk, clock=clock,
                          run_id=args.run_id, resume=args.resume, orders_dir=args.state_dir / "orders",
                          sentiment=None, options=LiveOptions(tick_poll_seconds=0.001))
    finally:
        store.close()
    print(json.dumps({"run_id": result.run_id, "status": result.status,
                      "reconciliation": result.reconciliation, "at": datetime.now().isoformat()}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
