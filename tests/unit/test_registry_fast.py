"""The registry's fast path gives exactly what the full (pydantic) validation gives.

The oracle is the module's own full path (``_validated``), which the fast path falls back to
whenever it is unsure: every case must come out the same, households or the same error text.
"""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplug.domain.model import Appliance, RiskTier
from careplug.errors import ConfigError
from careplug.registry import (
    _by_columns,
    _by_rows,
    _fast_csv,
    _fast_toml,
    _NotSimple,
    _read_csv,
    _validated,
    load_registry,
)

HEADER = "household,plug,timezone,tier,caseworkers,area,appliance,report_period,standby_w\n"

CSV_CASES = {
    "typical": HEADER
    + "h1,p1,Asia/Seoul,high,cw-a;cw-b,north,tv,5m,1.5\n"
    + "h1,p2,,,,,fridge,,\n"
    + "h2,p3,Europe/Berlin,low, cw-c ; ,  south ,kettle, 300 ,0\n",
    "later rows override, blank lines, short and long rows": HEADER
    + "h1,p1,Asia/Seoul,low,cw-a,a1\n\n"
    + "h1,p2,Asia/Tokyo,medium,cw-b,a2,rice_cooker,1h,2,extra\n"
    + "h3,p3\n",
    "columns in another order, some missing": "plug,household,appliance\nx1,hx,lamp\nx2,hx,\n",
    "spellings only the full path reads": HEADER
    + "h1,p1,,,,,,,1e1\nh1,p2,,,,,,,+5\nh2,p3,,bogus,,,,,\nh2,p4,,high,,,,,\n",
    "repeated header column": "household,plug,plug\nh1,p1,p2\n",
    "bad household id": HEADER + " ,p1,,,,,,,\n",
    "bad plug id": HEADER + "h1,p 1,,,,,,,\n",
    "unknown tier": HEADER + "h1,p1,,extreme,,,,,\n",
    "unknown zone": HEADER + "h1,p1,Mars/Olympus,,,,,,\n",
    "unknown appliance": HEADER + "h1,p1,,,,,toaster,,\n",
    "bad duration": HEADER + "h1,p1,,,,,,soon,\n",
    "negative standby": HEADER + "h1,p1,,,,,,,-1\n",
    "plug in two households": HEADER + "h1,p1,,,,,,,\nh2,p1,,,,,,,\n",
    "missing plug column": "household,tier\nh1,high\n",
    "empty file": "",
}

TOML_CASES = {
    "typical": """
[[household]]
id = "h1"
timezone = "Asia/Seoul"
tier = "high"
caseworkers = ["cw-a"]
area = "north"
  [[household.plug]]
  id = "p1"
  appliance = "tv"
  report_period = "5m"
  standby_w = 2
  [[household.plug]]
  id = "p2"
  appliance = "fridge"
  shows_activity = true
  report_period = 120
[[household]]
id = "h2"
""",
    "no households": "",
    "lax spellings only the full path reads": """
[[household]]
id = "h1"
  [[household.plug]]
  id = "p1"
  shows_activity = "yes"
  standby_w = "1.5"
""",
    "unknown key": '[[household]]\nid = "h1"\ncolour = "red"\n',
    "repeated household": '[[household]]\nid = "h1"\n[[household]]\nid = "h1"\n',
    "plug in two households": '[[household]]\nid="a"\n[[household.plug]]\nid="p"\n'
    '[[household]]\nid="b"\n[[household.plug]]\nid="p"\n',
    "id with a newline": '[[household]]\nid = "h1\\n"\n',
    "non-string tier": '[[household]]\nid = "h1"\ntier = 3\n',
    "array duration": '[[household]]\nid="a"\n[[household.plug]]\nid="p"\nreport_period=[1]\n',
    "boolean duration": '[[household]]\nid="a"\n[[household.plug]]\nid="p"\nreport_period=true\n',
    "negative standby": '[[household]]\nid="a"\n[[household.plug]]\nid="p"\nstandby_w=-1\n',
    "boolean standby": '[[household]]\nid="a"\n[[household.plug]]\nid="p"\nstandby_w=true\n',
}


def _outcome(load: object) -> object:
    try:
        return load() if callable(load) else None
    except ConfigError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("name", sorted(CSV_CASES))
def test_csv_fast_path_agrees_with_full_validation(tmp_path: Path, name: str) -> None:
    """CSV: the same households, or the same error, whichever path decides."""
    path = tmp_path / "r.csv"
    path.write_text(CSV_CASES[name], encoding="utf-8")
    fast = _outcome(lambda: load_registry(path))

    def full() -> object:
        return _validated(_read_csv(path), path)

    assert fast == _outcome(full)


@pytest.mark.parametrize("name", sorted(TOML_CASES))
def test_toml_fast_path_agrees_with_full_validation(tmp_path: Path, name: str) -> None:
    """TOML: the same households, or the same error, whichever path decides."""
    path = tmp_path / "r.toml"
    path.write_text(TOML_CASES[name], encoding="utf-8")
    fast = _outcome(lambda: load_registry(path))

    def full() -> object:
        return _validated(tomllib.loads(TOML_CASES[name]), path)

    assert fast == _outcome(full)


def test_typical_csv_values(tmp_path: Path) -> None:
    """What the typical CSV means: overrides, stripped cells, defaults and a fridge."""
    path = tmp_path / "r.csv"
    path.write_text(CSV_CASES["typical"], encoding="utf-8")
    h1, h2 = load_registry(path)
    assert (h1.tier, h1.caseworkers, h1.area) == (RiskTier.HIGH, ("cw-a", "cw-b"), "north")
    assert h1.plugs[0].report_period_s == 300.0 and h1.plugs[0].standby_w == 1.5
    assert h1.plugs[1].appliance is Appliance.FRIDGE and not h1.plugs[1].shows_activity
    assert (h2.timezone, h2.caseworkers, h2.area) == ("Europe/Berlin", ("cw-c", ""), "south")
    assert h2.plugs[0].report_period_s == 300.0 and h2.plugs[0].standby_w == 0.0


def test_repeated_values_share_one_object(tmp_path: Path) -> None:
    """A big registry's zones, areas and caseworkers are stored once, not per household."""
    path = tmp_path / "r.csv"
    rows = "".join(f"h{i},p{i},{' Asia/Seoul'.strip()},high,cw-1,north,tv,,\n" for i in range(50))
    path.write_text(HEADER + rows, encoding="utf-8")
    households = load_registry(path)
    assert len({id(h.area) for h in households}) == 1
    assert len({id(h.caseworkers) for h in households}) == 1


def test_ordinary_registries_take_the_fast_path(tmp_path: Path) -> None:
    """The agreement above is not vacuous: ordinary files never need the full path."""
    for name in ("typical", "later rows override, blank lines, short and long rows"):
        path = tmp_path / "r.csv"
        path.write_text(CSV_CASES[name], encoding="utf-8")
        assert _fast_csv(path) == load_registry(path)
    assert len(_fast_toml(tomllib.loads(TOML_CASES["typical"]))) == 2


# -- the column-wise reading of the usual CSV file against the row-by-row one ----------------

_CELLS = {
    "household": ["h1", "h2", "h3", " h1", "h 1", ""],
    "plug": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p 9", " p1", ""],
    "timezone": ["", "Asia/Seoul", "Europe/Berlin", " Asia/Tokyo ", "Mars/Olympus"],
    "tier": ["", "high", "low", " medium", "extreme"],
    "caseworkers": ["", "cw-a", "cw-a;cw-b", " cw-c ; ", ";"],
    "area": ["", "north", "  south ", " "],
    "appliance": ["", "tv", "fridge", " kettle", "toaster"],
    "report_period": ["", "5m", " 300 ", "soon"],
    "standby_w": ["", "0", "1.5", " 2 ", "1e1", "-1"],
    "extra": ["", "x"],
}


def _rows_outcome(text: str) -> object:
    try:
        return _by_rows(csv.reader(io.StringIO(text, newline="")))
    except _NotSimple:
        return "not simple"


def _columns_outcome(text: str) -> object:
    try:
        return _by_columns(text)
    except _NotSimple:
        return "not simple"


@st.composite
def _registry_texts(draw: st.DrawFn) -> str:
    names = draw(st.permutations(list(_CELLS)))
    header = [n for n in names if n in ("household", "plug") or draw(st.booleans())]
    rows = draw(
        st.lists(st.tuples(*(st.sampled_from(_CELLS[n]) for n in header)), min_size=0, max_size=12)
    )
    lines = [",".join(header)] + [",".join(row) for row in rows]
    if draw(st.booleans()) and len(lines) > 1:  # a blank line somewhere
        lines.insert(draw(st.integers(1, len(lines))), "")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=400, deadline=None)
@given(_registry_texts(), st.sampled_from([1, 20, 1 << 20]))
def test_column_wise_reading_agrees_with_row_by_row(text: str, chunk: int) -> None:
    """Whatever the column-wise reading decides (households or "not simple"), the row-by-row
    reading decides the same; it may leave a file to the rows (None), never differ. Chunks
    of 1 and 20 characters split the file at every line."""
    with patch("careplug.registry._CHUNK_CHARS", chunk):
        by_columns = _columns_outcome(text)
    if by_columns is not None:
        assert by_columns == _rows_outcome(text)


def test_usual_files_are_read_column_wise(tmp_path: Path) -> None:
    """Files without quotes whose rows all have every column never need the rows; a
    household's rows need not be together; values are shared as the rows' are."""
    text = HEADER + "".join(
        f"h{i % 7},p{i},Asia/Seoul,{('high', 'low')[i % 2]},cw-{i % 3},north,tv,5m,1.5\n"
        for i in range(60)
    )
    for chunk in (1, 100, 1 << 20):
        with patch("careplug.registry._CHUNK_CHARS", chunk):
            households = _by_columns(text)
        assert households is not None
        assert households == _by_rows(csv.reader(io.StringIO(text, newline="")))
    assert [len(h.plugs) for h in households] == [9, 9, 9, 9, 8, 8, 8]
    assert len({id(h.caseworkers) for h in households}) == 3
    quoted = HEADER + 'h1,p1,"Asia/Seoul",,,,,,\n'
    assert _by_columns(quoted) is None
    path = tmp_path / "r.csv"
    path.write_text(quoted, encoding="utf-8")
    assert load_registry(path)[0].timezone == "Asia/Seoul"
