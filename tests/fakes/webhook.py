"""A real local HTTP server that records JSON webhook posts (apprise ``json://127.0.0.1:PORT/path``).

``fail_first`` answers the first N posts with HTTP 500 (retry tests). Run it in-process
(``WebhookServer().start()``) or as its own process (``python -m tests.fakes.webhook PORT FILE``,
appending each body as one JSON line to FILE) so it outlives a killed monitor.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class WebhookServer:
    def __init__(self, fail_first: int = 0, record_to: Path | None = None, port: int = 0) -> None:
        self.posts: list[dict] = []
        self.paths: list[str] = []
        self.received_at: list[float] = []  # wall time of each post (benchmarks)
        self._lock = threading.Lock()
        self.fail_first = fail_first
        self.record_to = record_to
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if owner.fail_first > 0:
                    owner.fail_first -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                doc = json.loads(body or b"{}")
                with owner._lock:
                    owner.received_at.append(time.time())
                    owner.posts.append(doc)
                    owner.paths.append(self.path)
                if owner.record_to is not None:
                    with owner.record_to.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(doc) + "\n")
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def start(self) -> "WebhookServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    server = WebhookServer(record_to=Path(sys.argv[2]), port=int(sys.argv[1]))
    print(server.port, flush=True)
    server.server.serve_forever()
