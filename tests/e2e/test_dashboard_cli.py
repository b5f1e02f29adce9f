"""`sensequant dashboard` as a user runs it: it refuses a public address without auth."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sensequant(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSEQUANT_DASHBOARD_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "applications", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_a_public_host_without_authentication_is_refused(tmp_path):
    port = free_port()
    done = sensequant("--db", f"sqlite:///{tmp_path / 'e.db'}", "dashboard", "--host", "0.0.0.0", "--port", str(port))
    assert done.returncode != 0
    assert "refusing to serve the dashboard on 0.0.0.0" in done.stderr
    assert "--basic-auth" in done.stderr and "SENSEQUANT_DASHBOARD_PASSWORD" in done.stderr
    with socket.socket() as s:  # nothing was left listening
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_basic_auth_without_a_cookie_secret_is_refused(tmp_path):
    users = tmp_path / "users.json"
    users.write_text('{"analyst": "pw"}')
    done = sensequant("--db", f"sqlite:///{tmp_path / 'e.db'}", "dashboard", "--host", "0.0.0.0",
                      "--port", str(free_port()), "--basic-auth", str(users))
    assert done.returncode != 0 and "cookie secret" in done.stderr


def test_an_unknown_run_is_refused_before_serving(tmp_path):
    done = sensequant("--db", f"sqlite:///{tmp_path / 'e.db'}", "dashboard", "--run", "nope",
                      "--port", str(free_port()))
    assert done.returncode != 0 and "nope" in done.stderr


def test_help_names_every_option():
    done = sensequant("dashboard", "--help")
    assert done.returncode == 0
    for option in ("--host", "--port", "--refresh", "--alert-precision-threshold", "--run", "--basic-auth",
                   "--cookie-secret"):
        assert option in done.stdout


def test_plain_http_on_a_public_address_is_refused_without_tls_or_proxy(tmp_path):
    env = {"SENSEQUANT_DASHBOARD_PASSWORD": "correct horse battery",
           "SENSEQUANT_DASHBOARD_COOKIE_SECRET": "Qm9yX3ZlcnlfcmFuZG9tX2Nvb2tpZV9zZWNyZXQ"}
    done = sensequant("--db", f"sqlite:///{tmp_path / 'e.db'}", "dashboard", "--host", "0.0.0.0",
                      "--port", str(free_port()), env_extra=env)
    assert done.returncode != 0 and "refusing to serve plain HTTP" in done.stderr
    assert "--ssl-certfile" in done.stderr and "--behind-proxy" in done.stderr
    weak = sensequant("--db", f"sqlite:///{tmp_path / 'e.db'}", "dashboard", "--host", "0.0.0.0",
                      "--port", str(free_port()), "--behind-proxy",
                      env_extra={**env, "SENSEQUANT_DASHBOARD_COOKIE_SECRET": " " * 16})
    assert weak.returncode != 0 and "too weak" in weak.stderr


def test_failed_logins_are_limited(tmp_path):
    import http.client
    import time
    import urllib.parse
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSEQUANT_DASHBOARD_")}
    env.update({"SENSEQUANT_DASHBOARD_PASSWORD": "correct horse battery",
                "SENSEQUANT_DASHBOARD_COOKIE_SECRET": "Qm9yX3ZlcnlfcmFuZG9tX2Nvb2tpZV9zZWNyZXQ"})
    proc = subprocess.Popen([sys.executable, "-m", "applications", "--db", f"sqlite:///{tmp_path / 'e.db'}",
                             "dashboard", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)

        def login(password: str) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            body = urllib.parse.urlencode({"username": "user", "password": password})
            conn.request("POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
            status = conn.getresponse().status
            conn.close()
            return status

        statuses = [login("wrong guess") for _ in range(5)]
        assert all(s == 302 for s in statuses), statuses
        assert login("wrong guess") == 429
        assert login("correct horse battery") == 429, "locked out: even the right password waits"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
