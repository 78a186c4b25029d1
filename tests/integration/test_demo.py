"""`careplug demo` — the README's first command — finds the quiet household in time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need_binary

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_raises_and_acknowledges_the_incident_alert(tmp_path: Path) -> None:
    """Within its time limit the demo shows the inactivity alert and its acknowledgement."""
    need_binary("mosquitto", "/usr/sbin/mosquitto")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'simulators'}")
    result = subprocess.run(
        [sys.executable, "-m", "careplug", "demo", "--speed", "7200", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "RAISED: inactivity (critical) for hh-0001" in out
    assert "ACKNOWLEDGED: inactivity" in out
    assert out.count("RAISED: inactivity") == 1  # only the incident, no false alarm
    assert "readings handled" in out
