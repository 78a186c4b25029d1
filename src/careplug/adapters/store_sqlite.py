"""SQLite store: alerts with their audit log, plug and household state, and the outbox.

WAL mode so the CLI can read and write while the daemon runs; every alert transition is one
transaction together with its audit entry and the notifications it causes, so an alert is stored
before anyone is notified and a crash can't lose a notification. Schema changes are numbered
migrations applied at open.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careplug.domain.engine import HouseholdMemory, PlugMemory
from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    AuditEntry,
    EpochSeconds,
    HouseholdId,
    Outcome,
    PlugId,
    Severity,
)
from careplug.errors import IllegalTransition, StoreError
from careplug.ports import Notification, OutboxItem

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        household TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        raised_at REAL NOT NULL,
        since REAL,
        message TEXT NOT NULL,
        acknowledged_at REAL,
        acknowledged_by TEXT,
        resolved_at REAL,
        resolved_by TEXT,
        outcome TEXT,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_open ON alerts(state) WHERE state != 'resolved';
    CREATE INDEX alerts_household ON alerts(household, raised_at);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL REFERENCES alerts(id),
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL,
        note TEXT,
        outcome TEXT,
        origin TEXT NOT NULL
    );
    CREATE INDEX audit_alert ON audit(alert_id, seq);
    CREATE TABLE plugs (
        plug TEXT PRIMARY KEY,
        last_message_at REAL,
        last_reading_at REAL,
        power_w REAL,
        power_at REAL,
        energy_wh REAL,
        energy_at REAL,
        in_use INTEGER,
        standby_w REAL,
        lwt_offline_since REAL,
        offline_since REAL
    );
    CREATE TABLE households (
        household TEXT PRIMARY KEY,
        last_activity_at REAL,
        first_seen_at REAL,
        rearmed_at REAL,
        blind_s REAL NOT NULL DEFAULT 0,
        blind_since REAL,
        suppressed TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE outbox (
        key TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        address TEXT,
        subject TEXT NOT NULL,
        text TEXT NOT NULL,
        locale TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        delivered_at REAL,
        last_error TEXT,
        PRIMARY KEY (key, channel, recipient)
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE delivered_at IS NULL
        AND next_attempt_at IS NOT NULL;
    """,
    # 2: caseworker console: users, sessions, activity history, away periods with their audit
    """
    CREATE TABLE users (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        locale TEXT NOT NULL DEFAULT 'ko',
        active INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        password_changed_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users(username),
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(username);
    CREATE TABLE activity (
        household TEXT NOT NULL,
        plug TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (household, at, plug)
    ) WITHOUT ROWID;
    CREATE TABLE away_periods (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        household TEXT NOT NULL,
        start_at REAL NOT NULL,
        end_at REAL,
        ended_at REAL,
        note TEXT,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        ended_by TEXT
    );
    CREATE INDEX away_household ON away_periods(household, start_at);
    CREATE TABLE away_audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        away_id INTEGER NOT NULL REFERENCES away_periods(id),
        household TEXT NOT NULL,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        note TEXT,
        origin TEXT NOT NULL
    );
    CREATE INDEX away_audit_household ON away_audit(household, seq)
    """,
    # 3: learnt routines and away periods
    """
    CREATE TABLE routines (
        household TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    ALTER TABLE households ADD COLUMN skip_learn INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE households ADD COLUMN away_start REAL;
    ALTER TABLE households ADD COLUMN away_until REAL;
    ALTER TABLE households ADD COLUMN awaiting_return INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE plugs ADD COLUMN on_since REAL;
    ALTER TABLE plugs ADD COLUMN longest_on_s REAL NOT NULL DEFAULT 0
    """,
    # 4: a plug's unplugged memory (the standby it showed, since when it draws nothing) and
    # the gateway it reports through, so unplugged and gateway outages survive a restart
    """
    ALTER TABLE plugs ADD COLUMN standby_ref_w REAL;
    ALTER TABLE plugs ADD COLUMN zero_since REAL;
    ALTER TABLE plugs ADD COLUMN gateway TEXT
    """,
    # 5: the daily summary reads every household's alarms of the last weeks in one query
    """
    CREATE INDEX alerts_raised ON alerts(raised_at)
    """,
    # 6: a household partly blind (some of its activity plugs down): the learnt levels leave
    # that time out of the silence, also after a restart
    """
    ALTER TABLE households ADD COLUMN partly_blind_s REAL NOT NULL DEFAULT 0;
    ALTER TABLE households ADD COLUMN partly_blind_since REAL
    """,
]

# a store row (a tuple in PlugMemory's field order) as a PlugMemory, in C: no Python frame
_plug_memory = functools.partial(tuple.__new__, PlugMemory)

_ALERT_COLUMNS = (
    "id, household, kind, severity, state, raised_at, since, message, acknowledged_at, "
    "acknowledged_by, resolved_at, resolved_by, outcome, details"
)


def _row_to_alert(row: sqlite3.Row | tuple[object, ...]) -> Alert:
    (
        aid,
        household,
        kind,
        severity,
        state,
        raised_at,
        since,
        message,
        ack_at,
        ack_by,
        res_at,
        res_by,
        outcome,
        details,
    ) = tuple(row)
    return Alert(
        id=AlertId(str(aid)),
        household=HouseholdId(str(household)),
        kind=AlertKind(str(kind)),
        severity=Severity(str(severity)),
        state=AlertState(str(state)),
        raised_at=float(raised_at),
        since=None if since is None else float(since),
        message=str(message),
        acknowledged_at=None if ack_at is None else float(ack_at),
        acknowledged_by=None if ack_by is None else str(ack_by),
        resolved_at=None if res_at is None else float(res_at),
        resolved_by=None if res_by is None else str(res_by),
        outcome=None if outcome is None else Outcome(str(outcome)),
        details=json.loads(str(details)),
    )


def _outbox_item(r: tuple[Any, ...]) -> OutboxItem:
    """An outbox row (key … data, attempts, a time, last_error, address) as an item."""
    note = Notification(r[0], r[1], r[2], r[3], r[4], r[5], address=r[10], data=json.loads(r[6]))
    return OutboxItem(note, r[7], r[8], r[9])


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A console account: ``role`` is ``caseworker`` or ``admin``; the hash is argon2/bcrypt."""

    username: str
    role: str
    password_hash: str
    display_name: str = ""
    locale: str = "ko"
    active: bool = True
    created_at: EpochSeconds = 0.0
    password_changed_at: EpochSeconds = 0.0


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A logged-in session; only a hash of its token is stored."""

    token_hash: str
    username: str
    csrf: str
    created_at: EpochSeconds
    expires_at: EpochSeconds


@dataclass(frozen=True, slots=True)
class AwayPeriod:
    """The resident is away (hospital stay, family visit) from ``start_at`` to ``end_at``
    (None: until ended); ``ended_at`` is when someone ended it early."""

    id: int
    household: HouseholdId
    start_at: EpochSeconds
    end_at: EpochSeconds | None
    ended_at: EpochSeconds | None
    note: str | None
    created_by: str
    created_at: EpochSeconds
    ended_by: str | None = None

    def active_at(self, at: EpochSeconds) -> bool:
        """True when the period covers event time ``at``."""
        if at < self.start_at:
            return False
        if self.ended_at is not None and at >= self.ended_at:
            return False
        return self.end_at is None or at < self.end_at


@dataclass(frozen=True, slots=True)
class AwayAuditEntry:
    """One append-only record of an away period being set or ended."""

    away_id: int
    household: HouseholdId
    at: EpochSeconds
    actor: str
    action: str
    note: str | None
    origin: str


_AWAY_COLUMNS = "id, household, start_at, end_at, ended_at, note, created_by, created_at, ended_by"


def _row_to_away(r: Sequence[Any]) -> AwayPeriod:
    return AwayPeriod(int(r[0]), HouseholdId(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8])


DEFAULT_CACHE_KIB = 512
"""SQLite's page cache per connection (``[store] page_cache_kib``). SQLite's own default is
2,000 KiB; at 10,000 households that was 0.2 KiB of resident memory per household for no
measurable gain: the daemon's commits touch plug rows spread over the whole table (a few
thousand random rows per batch, far more pages than either cache holds), and a restart reads
each table once. 128 pages still hold every B-tree's interior pages (47 at 100,000
households)."""


class SqliteStore:
    """All of careplug's durable state in one SQLite file (thread-safe by one lock)."""

    def __init__(
        self, path: Path, *, origin: str = "daemon", cache_kib: int = DEFAULT_CACHE_KIB
    ) -> None:
        if cache_kib < 1:
            raise ValueError(f"cache_kib must be at least 1, not {cache_kib}")
        self.path = path
        self._origin = origin
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
            # negative: a size in KiB, not a page count (pages come from the heap as used)
            self._db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a power loss may lose the last commits, never corrupt
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc

    # -- schema ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"store {self.path} has schema {version}, newer than this careplug "
                        f"({len(MIGRATIONS)}): upgrade careplug"
                    )
                for number in range(version, len(MIGRATIONS)):
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={number + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """The applied migration count."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def writable(self) -> bool:
        """True when a write transaction can be started (readiness check)."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("ROLLBACK")
            return True
        except sqlite3.Error:
            return False

    # -- alerts ------------------------------------------------------------------------------

    def record_transition(
        self,
        alert: Alert,
        audit: AuditEntry,
        expected: AlertState | None,
        notifications: Sequence[Notification] = (),
        at: EpochSeconds | None = None,
        *,
        origin: str | None = None,
    ) -> int:
        """Store an alert transition, its audit entry and its notifications atomically.

        ``expected`` is the state the alert must have in the store (None: it must be new);
        otherwise :class:`IllegalTransition` (someone else changed it first). ``origin``
        overrides the store's own (the console records ``"console"`` so the daemon, sharing
        the file or even this object, picks the change up). Returns the audit sequence number.
        """
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                seq = self._write_transition(alert, audit, expected, origin)
                self._insert_outbox(notifications, at if at is not None else audit.at)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return seq

    def record_new_alerts(
        self,
        items: Sequence[tuple[Alert, AuditEntry]],
        notifications: Sequence[Notification],
        at: EpochSeconds,
    ) -> None:
        """Store several new alerts, their audit entries and the notifications they cause in
        one transaction (a digest covering them is never stored for only some of them).
        :class:`IllegalTransition` if any of them already exists; then nothing is stored."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                for alert, audit in items:
                    self._write_transition(alert, audit, None, None)
                self._insert_outbox(notifications, at)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _write_transition(
        self, alert: Alert, audit: AuditEntry, expected: AlertState | None, origin: str | None
    ) -> int:
        """Inside a transaction: check the expected state, upsert the alert, append the audit
        entry; the audit sequence number."""
        db = self._db
        row = db.execute("SELECT state FROM alerts WHERE id = ?", (alert.id,)).fetchone()
        current = None if row is None else AlertState(row[0])
        if current != expected:
            raise IllegalTransition(
                f"alert {alert.id} is {current.value if current else 'unknown'}, "
                f"expected {expected.value if expected else 'new'}"
            )
        db.execute(
            f"INSERT OR REPLACE INTO alerts ({_ALERT_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                alert.id,
                alert.household,
                alert.kind.value,
                alert.severity.value,
                alert.state.value,
                alert.raised_at,
                alert.since,
                alert.message,
                alert.acknowledged_at,
                alert.acknowledged_by,
                alert.resolved_at,
                alert.resolved_by,
                alert.outcome.value if alert.outcome else None,
                json.dumps(alert.details, sort_keys=True),
            ),
        )
        cursor = db.execute(
            "INSERT INTO audit (alert_id, at, actor, action, state, note, outcome, origin)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                audit.alert_id,
                audit.at,
                audit.actor,
                audit.action,
                audit.state.value,
                audit.note,
                audit.outcome.value if audit.outcome else None,
                origin or self._origin,
            ),
        )
        return int(cursor.lastrowid or 0)

    def get_alert(self, alert_id: AlertId) -> Alert | None:
        """The alert with that id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
        return None if row is None else _row_to_alert(row)

    def list_alerts(
        self,
        *,
        open_only: bool = False,
        household: HouseholdId | None = None,
        raised_after: EpochSeconds | None = None,
    ) -> list[Alert]:
        """Alerts, newest first (``raised_after``: only those raised later than that)."""
        clauses: list[str] = []
        params: list[object] = []
        if open_only:
            clauses.append("state != 'resolved'")
        if household is not None:
            clauses.append("household = ?")
            params.append(household)
        if raised_after is not None:
            clauses.append("raised_at > ?")
            params.append(raised_after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ALERT_COLUMNS} FROM alerts {where} ORDER BY raised_at DESC, id",
                params,
            ).fetchall()
        return [_row_to_alert(row) for row in rows]

    def audit(self, alert_id: AlertId) -> list[AuditEntry]:
        """The audit trail of one alert, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT alert_id, at, actor, action, state, note, outcome FROM audit "
                "WHERE alert_id = ? ORDER BY seq",
                (alert_id,),
            ).fetchall()
        return [
            AuditEntry(
                AlertId(r[0]),
                r[1],
                r[2],
                r[3],
                AlertState(r[4]),
                r[5],
                Outcome(r[6]) if r[6] else None,
            )
            for r in rows
        ]

    def last_audit_seq(self) -> int:
        """The newest audit sequence number (0 when empty)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0])

    def changes_from_others(self, after_seq: int) -> tuple[int, list[Alert]]:
        """Alerts changed by another origin (a caseworker's CLI) after ``after_seq``.

        Returns the newest sequence seen and the changed alerts as they are now.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, alert_id, origin FROM audit WHERE seq > ? ORDER BY seq",
                (after_seq,),
            ).fetchall()
        if not rows:
            return after_seq, []
        ids = list(dict.fromkeys(r[1] for r in rows if r[2] != self._origin))
        changed = [a for a in (self.get_alert(AlertId(i)) for i in ids) if a is not None]
        return int(rows[-1][0]), changed

    def purge(self, alerts_before: EpochSeconds, outbox_before: EpochSeconds) -> dict[str, int]:
        """Delete resolved alerts (with their audit trail) resolved before ``alerts_before``
        and delivered or dead notifications created before ``outbox_before``."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                old = "SELECT id FROM alerts WHERE state = 'resolved' AND resolved_at < ?"
                audit = db.execute(
                    f"DELETE FROM audit WHERE alert_id IN ({old})", (alerts_before,)
                ).rowcount
                alerts = db.execute(
                    "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?",
                    (alerts_before,),
                ).rowcount
                outbox = db.execute(
                    "DELETE FROM outbox WHERE created_at < ? AND (delivered_at IS NOT NULL "
                    "OR next_attempt_at IS NULL)",
                    (outbox_before,),
                ).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return {"alerts": alerts, "audit": audit, "outbox": outbox}

    # -- plug and household state -------------------------------------------------------

    def save_state(
        self, plugs: Collection[PlugMemory], households: Collection[HouseholdMemory]
    ) -> None:
        """Upsert snapshots in one transaction.

        The rows are handed to SQLite one at a time, not built as lists first: a commit of
        every plug (a backlog, a full round) made a 16-field tuple per plug alongside the
        snapshots, and those tens of thousands of short-lived objects left the allocator's
        pools half-empty for good (bench_memory). A ``PlugMemory`` is a tuple in the table's
        column order: its plain-tuple copy is the row (its ``in_use`` bool binds as the
        integer 0/1). ``households`` is iterated twice (state, then the changed routines).
        """
        if not plugs and not households:
            return
        household_rows = (
            (
                h.household,
                h.last_activity_at,
                h.first_seen_at,
                h.rearmed_at,
                h.blind_s,
                h.blind_since,
                ",".join(h.suppressed),
                int(h.skip_learn),
                h.away_start,
                h.away_until,
                int(h.awaiting_return),
                h.partly_blind_s,
                h.partly_blind_since,
            )
            for h in households
        )
        routine_rows = ((h.household, h.routine) for h in households if h.routine is not None)
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT OR REPLACE INTO plugs (plug, last_message_at, last_reading_at, "
                    "power_w, power_at, energy_wh, energy_at, in_use, standby_w, "
                    "lwt_offline_since, offline_since, on_since, longest_on_s, standby_ref_w, "
                    "zero_since, gateway) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    map(tuple, plugs),  # a plain tuple binds faster than a named one
                )
                db.executemany(
                    "INSERT OR REPLACE INTO households (household, last_activity_at, "
                    "first_seen_at, rearmed_at, blind_s, blind_since, suppressed, skip_learn, "
                    "away_start, away_until, awaiting_return, partly_blind_s, partly_blind_since) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    household_rows,
                )
                db.executemany("INSERT OR REPLACE INTO routines VALUES (?,?)", routine_rows)
                db.execute("COMMIT")
            except BaseException as exc:
                # the rows are made inside the transaction now: whatever fails, roll back
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot save state: {exc}") from exc
                raise

    def load_plugs(self) -> list[PlugMemory]:
        """Every stored plug snapshot."""
        with self._lock:
            rows = self._db.execute(
                "SELECT plug, last_message_at, last_reading_at, power_w, power_at, energy_wh, "
                "energy_at, in_use, standby_w, lwt_offline_since, offline_since, on_since, "
                "longest_on_s, standby_ref_w, zero_since, gateway FROM plugs"
            ).fetchall()
        # columns in PlugMemory's field order: each row becomes one without a conversion,
        # and without a Python step per row (PlugMemory._make is one: at 200,000 plugs a
        # sixth of the read)
        return list(map(_plug_memory, rows))

    def load_households(self) -> list[HouseholdMemory]:
        """Every stored household snapshot (each row made a named tuple as it is, but for the
        suppressed kinds: a restart reads a hundred thousand)."""
        suppressed: dict[str, tuple[str, ...]] = {}  # the few distinct values, split once
        with self._lock:
            rows = self._db.execute(
                "SELECT h.household, h.last_activity_at, h.first_seen_at, h.rearmed_at, "
                "h.blind_s, h.blind_since, h.suppressed, r.data, h.skip_learn, h.away_start, "
                "h.away_until, h.awaiting_return, h.partly_blind_s, h.partly_blind_since "
                "FROM households h LEFT JOIN routines r ON r.household = h.household"
            ).fetchall()

        def closed(kinds: str) -> tuple[str, ...]:
            split = suppressed.get(kinds)
            if split is None:
                split = suppressed[kinds] = tuple(k for k in kinds.split(",") if k)
            return split

        make = HouseholdMemory._make
        return [
            make(
                (
                    h,
                    last,
                    first,
                    rearmed,
                    blind_s,
                    since,
                    closed(k) if k else (),
                    r,
                    sl,
                    s,
                    u,
                    w,
                    pb,
                    ps,
                )
            )
            for h, last, first, rearmed, blind_s, since, k, r, sl, s, u, w, pb, ps in rows
        ]

    # -- outbox ------------------------------------------------------------------------------

    def _insert_outbox(self, items: Sequence[Notification], at: EpochSeconds) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO outbox (key, channel, recipient, address, subject, text,"
            " locale, data, created_at, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    n.key,
                    n.channel,
                    n.recipient,
                    n.address,
                    n.subject,
                    n.text,
                    n.locale,
                    json.dumps(n.data, sort_keys=True, ensure_ascii=False),
                    at,
                    at + n.delay_s,
                )
                for n in items
            ],
        )

    def enqueue(self, items: Sequence[Notification], at: EpochSeconds) -> None:
        """Store notifications (ignoring keys already stored) due at ``at``."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._insert_outbox(items, at)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def due(self, at: EpochSeconds, limit: int = 100) -> list[OutboxItem]:
        """Undelivered, not dead notifications whose next attempt is at or before ``at``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, channel, recipient, subject, text, locale, data, attempts, "
                "next_attempt_at, last_error, address FROM outbox WHERE delivered_at IS NULL AND "
                "next_attempt_at IS NOT NULL AND next_attempt_at <= ? "
                "ORDER BY next_attempt_at, created_at LIMIT ?",
                (at, limit),
            ).fetchall()
        return [_outbox_item(r) for r in rows]

    def next_due_at(self) -> EpochSeconds | None:
        """When the earliest pending notification is due, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL "
                "AND next_attempt_at IS NOT NULL"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_delivered(self, key: str, channel: str, recipient: str, at: EpochSeconds) -> None:
        """Record a delivery."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE key = ? AND channel = ? AND recipient = ?",
                (at, key, channel, recipient),
            )

    def mark_failed(
        self,
        key: str,
        channel: str,
        recipient: str,
        error: str,
        next_attempt_at: EpochSeconds | None,
    ) -> None:
        """Record a failed attempt; ``next_attempt_at`` None makes it a dead letter."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE key = ? AND channel = ? AND recipient = ?",
                (error[:500], next_attempt_at, key, channel, recipient),
            )

    def outbox_counts(self) -> dict[str, int]:
        """Pending, delivered and dead notifications."""
        with self._lock:
            row = self._db.execute(
                "SELECT SUM(delivered_at IS NOT NULL), "
                "SUM(delivered_at IS NULL AND next_attempt_at IS NOT NULL), "
                "SUM(delivered_at IS NULL AND next_attempt_at IS NULL) FROM outbox"
            ).fetchone()
        return {"delivered": row[0] or 0, "pending": row[1] or 0, "dead": row[2] or 0}

    def dead_letters(self) -> list[OutboxItem]:
        """Notifications that gave up."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, channel, recipient, subject, text, locale, data, attempts, "
                "created_at, last_error, address FROM outbox WHERE delivered_at IS NULL AND "
                "next_attempt_at IS NULL ORDER BY created_at"
            ).fetchall()
        return [_outbox_item(r) for r in rows]

    # -- console: users and sessions ---------------------------------------------------

    def _write(self, sql: str, params: Sequence[object]) -> int:
        with self._lock:
            cursor = self._db.execute(sql, params)
            return int(cursor.rowcount)

    def add_user(self, user: ConsoleUser) -> None:
        """Create a console account; :class:`StoreError` when the name is taken."""
        try:
            self._write(
                "INSERT INTO users (username, role, password_hash, display_name, locale, active,"
                " created_at, password_changed_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    user.username,
                    user.role,
                    user.password_hash,
                    user.display_name,
                    user.locale,
                    int(user.active),
                    user.created_at,
                    user.password_changed_at,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"user {user.username} already exists") from exc

    def get_user(self, username: str) -> ConsoleUser | None:
        """The account with that name, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT username, role, password_hash, display_name, locale, active, created_at,"
                " password_changed_at FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            return None
        return ConsoleUser(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7])

    def list_users(self) -> list[ConsoleUser]:
        """Every account, by name."""
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT username FROM users ORDER BY 1")]
        return [u for u in (self.get_user(n) for n in names) if u is not None]

    def set_password(self, username: str, password_hash: str, at: EpochSeconds) -> None:
        """Replace a password hash and end every session of that user."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                changed = self._db.execute(
                    "UPDATE users SET password_hash = ?, password_changed_at = ? "
                    "WHERE username = ?",
                    (password_hash, at, username),
                ).rowcount
                self._db.execute("DELETE FROM sessions WHERE username = ?", (username,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if not changed:
            raise StoreError(f"no user {username}")

    def update_user(
        self,
        username: str,
        *,
        role: str | None = None,
        active: bool | None = None,
        display_name: str | None = None,
        locale: str | None = None,
    ) -> None:
        """Change an account's role, activity, name or locale; deactivating ends sessions."""
        sets: list[str] = []
        params: list[object] = []
        for column, value in (
            ("role", role),
            ("active", None if active is None else int(active)),
            ("display_name", display_name),
            ("locale", locale),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if not sets:
            return
        if not self._write(
            f"UPDATE users SET {', '.join(sets)} WHERE username = ?", [*params, username]
        ):
            raise StoreError(f"no user {username}")
        if active is False:
            self._write("DELETE FROM sessions WHERE username = ?", (username,))

    def create_session(self, session: ConsoleSession) -> None:
        """Store a new session."""
        self._write(
            "INSERT INTO sessions (token_hash, username, csrf, created_at, expires_at)"
            " VALUES (?,?,?,?,?)",
            (
                session.token_hash,
                session.username,
                session.csrf,
                session.created_at,
                session.expires_at,
            ),
        )

    def get_session(self, token_hash: str, at: EpochSeconds) -> ConsoleSession | None:
        """The session unless it expired at ``at`` (expired ones are deleted on the way)."""
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (at,))
            row = self._db.execute(
                "SELECT token_hash, username, csrf, created_at, expires_at FROM sessions "
                "WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
        return None if row is None else ConsoleSession(*row)

    def delete_session(self, token_hash: str) -> None:
        """Log out."""
        self._write("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # -- console: activity history ------------------------------------------------------

    def record_activity(self, rows: Iterable[tuple[HouseholdId, PlugId, EpochSeconds]]) -> None:
        """Append detected activity (household, plug, event time); repeats are ignored."""
        batch = list(rows)
        if not batch:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO activity (household, plug, at) VALUES (?,?,?)", batch
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def activity_between(
        self, household: HouseholdId, start: EpochSeconds, end: EpochSeconds
    ) -> list[tuple[PlugId, EpochSeconds]]:
        """Activity of one household in ``[start, end)``, oldest first, as (plug, time)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT plug, at FROM activity WHERE household = ? AND at >= ? AND at < ? "
                "ORDER BY at, plug",
                (household, start, end),
            ).fetchall()
        return [(PlugId(r[0]), float(r[1])) for r in rows]

    # -- console: away periods ----------------------------------------------------------

    def _away_audit(
        self,
        away_id: int,
        household: str,
        at: float,
        actor: str,
        action: str,
        note: str | None,
        origin: str | None,
    ) -> None:
        self._db.execute(
            "INSERT INTO away_audit (away_id, household, at, actor, action, note, origin)"
            " VALUES (?,?,?,?,?,?,?)",
            (away_id, household, at, actor, action, note, origin or self._origin),
        )

    def set_away(
        self,
        household: HouseholdId,
        start: EpochSeconds,
        end: EpochSeconds | None,
        by: str,
        at: EpochSeconds,
        note: str | None = None,
        *,
        origin: str | None = None,
    ) -> AwayPeriod:
        """Record that the resident is away from ``start`` until ``end`` (None: until ended).

        ``at`` is when the caseworker said so; the step is audited.
        """
        if end is not None and end <= start:
            raise IllegalTransition("an away period must end after it starts")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "INSERT INTO away_periods (household, start_at, end_at, note, created_by,"
                    " created_at) VALUES (?,?,?,?,?,?)",
                    (household, start, end, note, by, at),
                )
                away_id = int(cursor.lastrowid or 0)
                self._away_audit(away_id, household, at, by, "away_set", note, origin)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return AwayPeriod(away_id, household, start, end, None, note, by, at)

    def get_away(self, away_id: int) -> AwayPeriod | None:
        """One away period, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_AWAY_COLUMNS} FROM away_periods WHERE id = ?", (away_id,)
            ).fetchone()
        return None if row is None else _row_to_away(row)

    def end_away(
        self,
        away_id: int,
        by: str,
        at: EpochSeconds,
        note: str | None = None,
        *,
        origin: str | None = None,
    ) -> AwayPeriod:
        """End an away period at ``at``; :class:`IllegalTransition` if it is already over."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"SELECT {_AWAY_COLUMNS} FROM away_periods WHERE id = ?", (away_id,)
                ).fetchone()
                if row is None:
                    raise IllegalTransition(f"no away period {away_id}")
                period = _row_to_away(row)
                if period.ended_at is not None or (
                    period.end_at is not None and period.end_at <= at
                ):
                    raise IllegalTransition(f"away period {away_id} is already over")
                self._db.execute(
                    "UPDATE away_periods SET ended_at = ?, ended_by = ? WHERE id = ?",
                    (at, by, away_id),
                )
                self._away_audit(away_id, period.household, at, by, "away_ended", note, origin)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return AwayPeriod(
            period.id,
            period.household,
            period.start_at,
            period.end_at,
            at,
            period.note,
            period.created_by,
            period.created_at,
            by,
        )

    def list_away(
        self, household: HouseholdId | None = None, *, active_at: EpochSeconds | None = None
    ) -> list[AwayPeriod]:
        """Away periods (of one household), newest first; only those covering ``active_at``
        when given."""
        where, params = "", []
        if household is not None:
            where, params = "WHERE household = ?", [household]
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_AWAY_COLUMNS} FROM away_periods {where} ORDER BY start_at DESC, id DESC",
                params,
            ).fetchall()
        periods = [_row_to_away(r) for r in rows]
        if active_at is not None:
            periods = [p for p in periods if p.active_at(active_at)]
        return periods

    def away_changes(self, after_seq: int) -> tuple[int, list[AwayPeriod]]:
        """Away periods set or ended after audit sequence ``after_seq``, as they are now, and
        the newest sequence seen (the daemon follows the console with this)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, away_id FROM away_audit WHERE seq > ? ORDER BY seq", (after_seq,)
            ).fetchall()
        if not rows:
            return after_seq, []
        ids = list(dict.fromkeys(int(r[1]) for r in rows))
        periods = [p for p in (self.get_away(i) for i in ids) if p is not None]
        return int(rows[-1][0]), periods

    def last_away_seq(self) -> int:
        """The newest away audit sequence number (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM away_audit").fetchone()
        return int(row[0])

    def away_audit(self, household: HouseholdId) -> list[AwayAuditEntry]:
        """The away trail of one household, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT away_id, household, at, actor, action, note, origin FROM away_audit "
                "WHERE household = ? ORDER BY seq",
                (household,),
            ).fetchall()
        return [AwayAuditEntry(r[0], HouseholdId(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]
