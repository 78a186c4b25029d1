"""The ``careplug`` command line: run the daemon, check config, handle alerts, decode."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from careplug import __version__
from careplug.clock import SystemClock, iso, parse_iso
from careplug.domain import alerts as alert_rules
from careplug.domain.model import CASEWORKER_OUTCOMES, Alert, AlertId, HouseholdId, Outcome
from careplug.errors import CareplugError, ConfigError, IllegalTransition
from careplug.logconfig import configure_logging
from careplug.settings import Settings, effective, load_settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG


def _config_path(args: argparse.Namespace) -> Path | None:
    value = args.config or os.environ.get("CAREPLUG_CONFIG")
    return Path(value) if value else None


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(_config_path(args))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM or SIGINT."""
    from careplug.app import run_until_stopped, start_daemon
    from careplug.heap import bulk_build, release_freed_memory
    from careplug.registry import load_registry

    try:
        settings = _settings(args)
        with bulk_build():  # see careplug.heap: no GC passes over the registry being built
            households = load_registry(settings.registry.path)  # broken: stop with the reason
    except ConfigError as exc:
        print(f"careplug: {exc}", file=sys.stderr)
        return EXIT_CONFIG  # systemd's RestartPreventExitStatus: no restart loop
    # the registry's file and cells were malloc'd: hand them back before the engine's objects
    # (in the allocator's own arenas, which cannot reuse that heap) are made (a few ms)
    release_freed_memory()
    configure_logging(settings.logging.level, settings.logging.format)
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    reload_requested = threading.Event()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())
    daemon = start_daemon(settings, args.clock, _config_path(args), households)
    return run_until_stopped(daemon, stop, reload_requested)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and registry; print the effective settings, secrets masked."""
    from careplug.registry import load_registry

    settings = _settings(args)
    households = load_registry(settings.registry.path)
    data = effective(settings)
    data["registry_summary"] = {
        "households": len(households),
        "plugs": sum(len(h.plugs) for h in households),
    }
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return EXIT_OK


def _store(args: argparse.Namespace) -> Any:
    from careplug.adapters.store_sqlite import SqliteStore

    path = Path(args.store) if args.store else _settings(args).store.path
    return SqliteStore(path, origin="cli")


def _alert_json(alert: Alert) -> dict[str, object]:
    from careplug.runtime.fanout import alert_document

    return alert_document(alert)


def _print_alerts(alerts: list[Alert], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_alert_json(a) for a in alerts], ensure_ascii=False, indent=2))
        return
    if not alerts:
        print("no alerts")
        return
    print(f"{'ID':44} {'HOUSEHOLD':12} {'KIND':16} {'SEVERITY':9} {'STATE':13} RAISED (UTC)")
    for a in alerts:
        print(
            f"{a.id:44} {a.household:12} {a.kind.value:16} {a.severity.value:9} "
            f"{a.state.value:13} {iso(a.raised_at)}"
        )
        print(f"    {a.message}")


def cmd_alerts_list(args: argparse.Namespace) -> int:
    """List open alerts (or all with --all)."""
    store = _store(args)
    household = HouseholdId(args.household) if args.household else None
    alerts = store.list_alerts(open_only=not args.all, household=household)
    _print_alerts(alerts, args.json)
    return EXIT_OK


def cmd_alerts_show(args: argparse.Namespace) -> int:
    """One alert with its audit trail."""
    store = _store(args)
    alert = store.get_alert(AlertId(args.id))
    if alert is None:
        print(f"no alert {args.id}", file=sys.stderr)
        return EXIT_ERROR
    trail = store.audit(alert.id)
    if args.json:
        doc = _alert_json(alert)
        doc["audit"] = [
            {
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "state": e.state.value,
                "note": e.note,
                "outcome": e.outcome.value if e.outcome else None,
            }
            for e in trail
        ]
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_alerts([alert], False)
        for e in trail:
            print(f"  {iso(e.at)} {e.actor}: {e.action}" + (f" — {e.note}" if e.note else ""))
    return EXIT_OK


def _transition(args: argparse.Namespace, action: str) -> int:
    from careplug.runtime.fanout import FanoutConfig
    from careplug.runtime.router import AlertRouter

    settings = _settings(args) if (args.config or os.environ.get("CAREPLUG_CONFIG")) else None
    store = _store(args)
    alert = store.get_alert(AlertId(args.id))
    if alert is None:
        print(f"no alert {args.id}", file=sys.stderr)
        return EXIT_ERROR
    now = SystemClock().now()
    try:
        if action == "ack":
            new, audit = alert_rules.acknowledge(alert, args.by, now, args.note)
        else:
            new, audit = alert_rules.resolve(alert, args.by, now, Outcome(args.outcome), args.note)
        router = AlertRouter(FanoutConfig())
        if settings is not None:
            from careplug.app import build_router, configured_channels
            from careplug.registry import load_registry

            households = load_registry(settings.registry.path)
            router = build_router(settings, households, configured_channels(settings))
        store.record_transition(new, audit, alert.state, router.for_transition(new, audit), now)
    except IllegalTransition as exc:
        print(f"cannot {action} {args.id}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(_alert_json(new), ensure_ascii=False, indent=2))
    else:
        print(f"{new.id} {new.state.value} by {args.by}")
    return EXIT_OK


def cmd_alerts_ack(args: argparse.Namespace) -> int:
    """Acknowledge an open alert."""
    return _transition(args, "ack")


def cmd_alerts_resolve(args: argparse.Namespace) -> int:
    """Resolve an alert with an outcome."""
    return _transition(args, "resolve")


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode one payload from stdin and print what careplug makes of it."""
    from careplug.adapters.payloads import PayloadOptions
    from careplug.adapters.payloads.describe import describe

    options = PayloadOptions()
    if _config_path(args):
        from careplug.app import payload_options

        options = payload_options(_settings(args))
    lines, code = describe(
        args.topic, sys.stdin.buffer.read(), args.format, SystemClock().now(), options
    )
    for line in lines:
        print(line)
    return code


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run the engine offline over readings; alerts as JSON lines, figures as a report."""
    import dataclasses

    from careplug.app import detection_config, payload_options
    from careplug.clock import monotonic
    from careplug.domain.engine import DetectionConfig
    from careplug.registry import load_registry
    from careplug.runtime.evaluate import (
        ReadingsFileError,
        ResidentModel,
        SimulatedResidents,
        SkippedRows,
        alert_line,
        evaluate_items,
        households_from_readings,
        load_items,
        read_away,
        read_incidents,
        score,
    )
    from careplug.settings import parse_duration

    config = DetectionConfig()
    options = None
    if _config_path(args):
        settings = _settings(args)
        config = detection_config(settings)
        options = payload_options(settings)
    config = dataclasses.replace(config, detector=args.detector)
    households = load_registry(Path(args.registry)) if args.registry else None
    away = read_away(Path(args.away)) if args.away else None
    window = parse_duration(args.incident_window)
    # without ground truth (clean data) every caseworker-facing alert counts as false
    incidents = read_incidents(Path(args.incidents)) if args.incidents else []
    began = monotonic()
    skipped = SkippedRows()
    try:
        pairs = load_items(Path(args.readings), options, skipped)
    except (OSError, ReadingsFileError) as exc:
        print(f"evaluate: cannot read the readings: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if skipped.total:
        print(
            f"evaluate: skipped {skipped.total} malformed rows of {args.readings} "
            f"({'; '.join(skipped.examples)})",
            file=sys.stderr,
        )
    homes = households or households_from_readings(pairs, args.timezone)
    if args.self_check_answer_rate is None:
        result = evaluate_items(pairs, homes, config, away=away)
    else:
        if not 0 <= args.self_check_answer_rate <= 1:
            print(
                "evaluate: --self-check-answer-rate needs a probability from 0 to 1",
                file=sys.stderr,
            )
            return EXIT_USAGE
        model = ResidentModel(
            args.self_check_answer_rate, timeout_s=parse_duration(args.self_check_timeout)
        )
        residents = SimulatedResidents(model, homes, incidents, window)
        result = evaluate_items(pairs, homes, config, away=away, residents=residents)
    took = monotonic() - began
    for alert in result.alerts:
        print(alert_line(alert))
    summary: dict[str, object] = {
        "detector": args.detector,
        "readings": result.readings,
        "households": len(result.spans),
        "alerts": len(result.alerts),
        "seconds": round(took, 2),
        "readings_per_second": round(result.readings / took) if took else None,
        "rows_skipped": skipped.counts,
    }
    if args.self_check_answer_rate is not None:
        summary["self_check_answer_rate"] = args.self_check_answer_rate
    scored_from = parse_iso(args.scored_from) if args.scored_from else None
    report = score(
        result.alerts,
        incidents,
        result.spans,
        window,
        scored_from,
        result.facing_at,
        result.notices,
    )
    summary.update(report.as_dict())
    text = json.dumps(summary, indent=2)
    print(text, file=sys.stderr)
    if args.report:
        Path(args.report).write_text(text + "\n", encoding="utf-8")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Broker, daemon and simulated households on this machine; Ctrl-C stops it all."""
    from careplug.demo import run_demo

    configure_logging("warning", "console")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return run_demo(
        args.households,
        args.speed,
        args.seed,
        args.days,
        Path(args.dir) if args.dir else None,
        stop,
    )


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when the daemon's /healthz answers 200 (container HEALTHCHECK)."""
    from careplug.adapters.metrics import healthcheck

    return healthcheck(args.url, args.timeout)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise CareplugError("the passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    """Create a console account (the password is hashed with argon2id)."""
    from careplug.adapters.web.auth import add_user

    store = _store(args)
    user = add_user(
        store,
        args.username,
        _read_password(args),
        args.role,
        SystemClock().now(),
        display_name=args.name or "",
        locale=args.locale,
    )
    print(f"{user.username} added ({user.role})")
    return EXIT_OK


def cmd_users_passwd(args: argparse.Namespace) -> int:
    """Set a console account's password; its sessions end."""
    from careplug.adapters.web.auth import hash_password

    store = _store(args)
    store.set_password(args.username, hash_password(_read_password(args)), SystemClock().now())
    print(f"password of {args.username} changed")
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    """List console accounts."""
    users = _store(args).list_users()
    if args.json:
        rows = [
            {"username": u.username, "role": u.role, "name": u.display_name, "active": u.active}
            for u in users
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    for u in users:
        print(
            f"{u.username:24} {u.role:10} {'active' if u.active else 'inactive':8} {u.display_name}"
        )
    return EXIT_OK


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the caseworker console against the configured store until SIGTERM or SIGINT."""
    from careplug.adapters.store_sqlite import SqliteStore
    from careplug.adapters.web import ConsoleSettings, create_app, serve_in_thread
    from careplug.app import build_router, configured_channels, false_alarm_config
    from careplug.registry import load_registry

    settings = _settings(args)
    configure_logging(settings.logging.level, settings.logging.format)
    households = load_registry(settings.registry.path)
    store = SqliteStore(
        settings.store.path, origin="console", cache_kib=settings.store.page_cache_kib
    )
    router = build_router(settings, households, configured_channels(settings))
    app = create_app(
        store,
        households,
        SystemClock(),
        notifications=router.for_transition,
        settings=ConsoleSettings(
            secure_cookies=args.secure_cookies, false_alarms=false_alarm_config(settings)
        ),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = serve_in_thread(app, args.host, args.port)
    print(f"careplug console on {server.url}", flush=True)
    stop.wait()
    server.stop()
    store.close()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="careplug", description="Smart care plug monitoring for people who live alone."
    )
    parser.add_argument("--version", action="version", version=f"careplug {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: $CAREPLUG_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument(
        "--clock",
        choices=["system", "replay"],
        default="system",
        help="replay: follow event time from the clock topic (for replays at any speed)",
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", parents=[common], help="validate and print config")
    check.set_defaults(func=cmd_check_config)

    alerts = sub.add_parser("alerts", help="list, acknowledge and resolve alerts")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    store_opt = argparse.ArgumentParser(add_help=False, parents=[common])
    store_opt.add_argument("--store", help="SQLite store (default: from the config)")
    store_opt.add_argument("--json", action="store_true", help="machine-readable output")

    lst = alerts_sub.add_parser("list", parents=[store_opt], help="open alerts")
    lst.add_argument("--all", action="store_true", help="include resolved alerts")
    lst.add_argument("--household", help="only this household")
    lst.set_defaults(func=cmd_alerts_list)

    show = alerts_sub.add_parser("show", parents=[store_opt], help="one alert and its audit")
    show.add_argument("id")
    show.set_defaults(func=cmd_alerts_show)

    ack = alerts_sub.add_parser("ack", parents=[store_opt], help="acknowledge an alert")
    ack.add_argument("id")
    ack.add_argument("--by", required=True, help="who acknowledges (caseworker id)")
    ack.add_argument("--note", help="what you are doing about it")
    ack.set_defaults(func=cmd_alerts_ack)

    res = alerts_sub.add_parser("resolve", parents=[store_opt], help="resolve with an outcome")
    res.add_argument("id")
    res.add_argument("--by", required=True, help="who resolves (caseworker id)")
    res.add_argument(
        "--outcome", required=True, choices=sorted(o.value for o in CASEWORKER_OUTCOMES)
    )
    res.add_argument("--note", help="what happened")
    res.set_defaults(func=cmd_alerts_resolve)

    dec = sub.add_parser("decode", parents=[common], help="decode one payload from stdin")
    dec.add_argument("--topic", required=True)
    dec.add_argument(
        "--format",
        default="auto",
        choices=["auto", "native", "tasmota", "shelly", "shelly2", "zigbee2mqtt", "esphome"],
    )
    dec.set_defaults(func=cmd_decode)
    demo = sub.add_parser("demo", help="see careplug work in a minute, no setup")
    demo.add_argument("--households", type=int, default=5)
    demo.add_argument("--speed", type=float, default=3600.0, help="simulated seconds per second")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--days", type=float, default=2.5)
    demo.add_argument("--dir", help="keep the demo's files here (default: a temp dir)")
    demo.set_defaults(func=cmd_demo)

    ev = sub.add_parser("evaluate", parents=[common], help="measure detection offline")
    ev.add_argument("--readings", required=True, help="CSV (time,device,power_w,...) or JSONL")
    ev.add_argument("--registry", help="household registry (default: one per household/device)")
    ev.add_argument(
        "--incidents",
        help="ground truth CSV household,start (without it every caseworker-facing alert "
        "counts as false: for data without incidents)",
    )
    ev.add_argument("--report", help="also write the figures to this JSON file")
    ev.add_argument(
        "--detector",
        choices=["fixed", "learning"],
        default="fixed",
        help="fixed: the tier's hard threshold (today's practice); learning: graded alerts "
        "from each household's learnt routine, the tier threshold as backstop",
    )
    ev.add_argument("--away", help="registered away periods CSV household,start,end")
    ev.add_argument(
        "--timezone", default="Asia/Seoul", help="households' time zone when there is no registry"
    )
    ev.add_argument(
        "--incident-window",
        default="48h",
        help="an alert this long after an incident start still detects it",
    )
    ev.add_argument("--scored-from", help="ignore false alerts before this ISO time")
    ev.add_argument(
        "--self-check-answer-rate",
        type=float,
        help="give every household a resident self-check, answered by simulated residents "
        "with this probability (an assumption: never in an incident, never at night)",
    )
    ev.add_argument("--self-check-timeout", default="30m", help="how long a resident has to answer")
    ev.set_defaults(func=cmd_evaluate)

    health = sub.add_parser("healthcheck", help="probe the daemon's /healthz")
    health.add_argument("--url", default="http://127.0.0.1:9310/healthz")
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(func=cmd_healthcheck)

    console = sub.add_parser("console", parents=[common], help="serve the caseworker console")
    console.add_argument("--host", default="127.0.0.1", help="listen address (loopback default)")
    console.add_argument("--port", type=int, default=9320)
    console.add_argument(
        "--secure-cookies", action="store_true", help="mark cookies Secure (behind HTTPS)"
    )
    console.set_defaults(func=cmd_console)

    users = sub.add_parser("users", help="console accounts: add, passwd, list")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    user_store = argparse.ArgumentParser(add_help=False, parents=[common])
    user_store.add_argument("--store", help="SQLite store (default: from the config)")
    u_add = users_sub.add_parser("add", parents=[user_store], help="create an account")
    u_add.add_argument("username", help="the id used in the registry's caseworkers lists")
    u_add.add_argument("--role", choices=["caseworker", "admin"], default="caseworker")
    u_add.add_argument("--name", help="display name")
    u_add.add_argument("--locale", choices=["ko", "en"], default="ko")
    u_add.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    u_add.set_defaults(func=cmd_users_add)
    u_pw = users_sub.add_parser("passwd", parents=[user_store], help="set a password")
    u_pw.add_argument("username")
    u_pw.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    u_pw.set_defaults(func=cmd_users_passwd)
    u_list = users_sub.add_parser("list", parents=[user_store], help="list accounts")
    u_list.add_argument("--json", action="store_true", help="machine-readable output")
    u_list.set_defaults(func=cmd_users_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``careplug`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"careplug: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CareplugError as exc:
        print(f"careplug: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return result


if __name__ == "__main__":
    sys.exit(main())
