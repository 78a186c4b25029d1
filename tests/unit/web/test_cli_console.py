"""`careplug users …` and `careplug console` from the command line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from careplug.adapters.store_sqlite import SqliteStore
from careplug.cli import main


def _run(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


def test_users_add_passwd_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Accounts are created with hashed passwords, listed, and their password changed."""
    db = str(tmp_path / "s.db")
    add = ["users", "add", "kim", "--store", db, "--password-stdin", "--name", "김복지"]
    assert _run(monkeypatch, add, "kim-password-1\n") == 0
    assert (
        _run(
            monkeypatch,
            [*add[:2], "boss", "--store", db, "--role", "admin", "--password-stdin"],
            "boss-password-1\n",
        )
        == 0
    )
    assert _run(monkeypatch, add, "kim-password-1\n") == 1  # taken
    assert (
        _run(monkeypatch, ["users", "add", "x", "--store", db, "--password-stdin"], "short\n") == 1
    )
    capsys.readouterr()
    assert _run(monkeypatch, ["users", "list", "--store", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(u["username"], u["role"]) for u in listed] == [
        ("boss", "admin"),
        ("kim", "caseworker"),
    ]
    store = SqliteStore(Path(db))
    before = store.get_user("kim")
    assert before is not None and before.password_hash.startswith("$argon2id$")
    passwd = ["users", "passwd", "kim", "--store", db, "--password-stdin"]
    assert _run(monkeypatch, passwd, "another-password-2\n") == 0
    after = store.get_user("kim")
    assert after is not None and after.password_hash != before.password_hash
    store.close()
