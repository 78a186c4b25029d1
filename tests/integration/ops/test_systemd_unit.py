"""deploy/careplug.service passes systemd-analyze verify, warnings included."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

UNIT = Path(__file__).resolve().parents[3] / "deploy" / "careplug.service"


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    return tool


def verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    # verify needs ExecStart's binary to exist: point it at a real executable in tmp_path.
    exe = tmp_path / "careplug"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    unit = tmp_path / "careplug.service"
    unit.write_text(text.replace("/usr/bin/careplug ", f"{exe} "))
    return subprocess.run(
        [analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    """No errors and no warnings (unknown keys are only warnings, so stderr must be empty)."""
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/careplug run --config /etc/careplug/careplug.toml" in text
    result = verify(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_a_misspelt_key_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a typo in the unit shows up on stderr."""
    result = verify(tmp_path, UNIT.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    assert "Unknown key" in result.stderr


def test_unit_has_the_required_settings() -> None:
    """Type=notify with a watchdog, reload by SIGHUP, no fixed root user, hardening."""
    settings = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert settings["Type"] == "notify"
    assert int(settings["WatchdogSec"]) > 0
    assert "-HUP $MAINPID" in settings["ExecReload"]
    assert settings["DynamicUser"] == "yes"
    assert settings["StateDirectory"] == "careplug"
    assert settings["ConfigurationDirectory"] == "careplug"
    assert settings["ProtectSystem"] == "strict"
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert settings[key] == "yes", key
    assert "AF_INET" in settings["RestrictAddressFamilies"]
