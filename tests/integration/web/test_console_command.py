"""`careplug console --config` as a process: serves the configured store on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for_port


@pytest.mark.integration
def test_console_command_serves_the_configured_store(tmp_path: Path) -> None:
    """`careplug console --config` serves the login page and the API over the config's store
    and registry on loopback, and stops on SIGTERM."""
    (tmp_path / "households.toml").write_text(
        '[[household]]\nid = "h-001"\ncaseworkers = ["kim"]\n'
        '[[household.plug]]\nid = "p-1"\nappliance = "tv"\n'
        '[[household]]\nid = "h-002"\ncaseworkers = ["lee"]\n'
        '[[household.plug]]\nid = "p-2"\nappliance = "tv"\n',
        encoding="utf-8",
    )
    config = tmp_path / "careplug.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "careplug.db"}"\n'
        f'[registry]\npath = "{tmp_path / "households.toml"}"\n',
        encoding="utf-8",
    )
    exe = str(Path(sys.executable).with_name("careplug"))
    env = {**os.environ, "CAREPLUG_CONFIG": str(config)}
    subprocess.run(
        [exe, "users", "add", "kim", "--password-stdin"],
        input="kim-password-1\n",
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    port = free_port()
    process = subprocess.Popen(
        [exe, "console", "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        wait_for_port(port, 30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert "로그인" in client.get("/login").text
            token = client.post(
                "/api/v1/session", json={"username": "kim", "password": "kim-password-1"}
            ).json()["token"]
            listed = client.get(
                "/api/v1/households", headers={"Authorization": f"Bearer {token}"}
            ).json()
            assert [h["id"] for h in listed] == ["h-001"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert re.search(rf"careplug console on http://127.0.0.1:{port}", out)
