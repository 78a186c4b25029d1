"""The recipients TOML loader: the example loads; bad fields are named by dotted path."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from careplug.adapters.recipients_toml import directory_from_dict, load_directory
from careplug.domain.model import HouseholdId, Severity
from careplug.domain.routing import Role
from careplug.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "recipients.example.toml"


def test_example_config_loads() -> None:
    """The shipped, commented example is valid and means what its comments say."""
    d = load_directory(EXAMPLE)
    assert d.recipients["cw-kim"].role is Role.CASEWORKER
    assert d.recipients["cw-kim"].quiet_hours is not None
    assert d.recipients["cw-kim"].quiet_hours.start == time(22)
    assert d.recipients["cw-lee"].locale == "en"
    assert d.recipients["control-centre"].working_hours is None
    assert d.teams["yeoksam-1"].members[0] == "cw-kim"
    assert d.consent(HouseholdId("hh-0001")).night_on_call is True
    assert d.consent(HouseholdId("hh-0002")).night_on_call is False
    assert d.policies[Severity.CRITICAL].ack_timeout_s == 1800
    assert d.policies[Severity.WARNING].ack_timeout_s == 7200  # default kept
    assert len(d.holidays) == 4
    assert d.digest_threshold == 3
    assert d.digest_window_s == 300


def recipient(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"id": "cw", "role": "caseworker", "channels": [{"channel": "sms"}]}
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"recipient": [recipient(role="boss")]}, "recipient.0.role"),
        ({"recipient": [recipient(timezone="Mars/Olympus")]}, "recipient.0.timezone"),
        ({"recipient": [recipient(), recipient(colour="red")]}, "recipient.1.colour"),
        (
            {"recipient": [recipient(working_hours={"start": "25:00", "end": "18:00"})]},
            "recipient.0.working_hours.start",
        ),
        ({"recipient": [recipient(channels=[])]}, "recipient.0.channels"),
        (
            {"escalation": [{"severity": "critical", "ack_timeout": "soon"}]},
            "escalation.0.ack_timeout",
        ),
        ({"recipient": [recipient(), recipient()]}, "recipient.1.id"),
        ({"team": [{"area": "a", "members": ["ghost"]}]}, "team.0.members.0"),
        ({"consent": [{"household": "hh", "volunteers": ["ghost"]}]}, "consent.0.volunteers.0"),
    ],
)
def test_errors_name_the_field(raw: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        directory_from_dict(raw)
    assert str(info.value).startswith(f"{where}:")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text('[[recipient]]\nid = "x"\nrole = "caseworker"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"r\.toml: recipient\.0\.channels"):
        load_directory(bad)
