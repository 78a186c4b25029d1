"""The composition root: builds the daemon from settings and a clock, starts and stops it.

Everything is started through one ExitStack, so shutdown runs in reverse order: stop waking
the driver, let it finish and acknowledge what it has, say offline on the broker, stop
delivering, close the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import structlog

from careplug.adapters.metrics import CareplugMetrics, MetricsServer
from careplug.adapters.mqtt import MqttAlertNotifier, MqttConnection, MqttOptions
from careplug.adapters.payloads import PayloadOptions, subscriptions
from careplug.adapters.store_sqlite import SqliteStore
from careplug.adapters.systemd import SystemdNotifier
from careplug.clock import Clock, SystemClock, VirtualClock, iso, monotonic
from careplug.domain.activity import ActivityConfig
from careplug.domain.engine import DetectionConfig, Engine
from careplug.domain.false_alarms import FalseAlarmConfig
from careplug.domain.model import AlertKind, Household, RiskTier
from careplug.domain.routine import RoutineConfig
from careplug.domain.routing import SYSTEM_HOUSEHOLD
from careplug.errors import CareplugError, DeliveryError
from careplug.heap import bulk_build, release_freed_memory, thaw
from careplug.ports import Notifier
from careplug.registry import load_registry
from careplug.runtime.delivery import DeliveryWorker
from careplug.runtime.driver import Driver
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter
from careplug.runtime.summary import DailySummaries
from careplug.runtime.system_watch import SystemWatch
from careplug.settings import Settings, load_settings

if TYPE_CHECKING:
    # imported where used: influxdb-client alone takes a quarter of a second to import, and
    # APScheduler (a twentieth) is first needed after the broker connection is started
    from apscheduler.schedulers.background import BackgroundScheduler

    from careplug.adapters.influx import InfluxSink

log = structlog.get_logger("careplug.app")

ClockMode = Literal["system", "replay"]


def detection_config(settings: Settings) -> DetectionConfig:
    """The engine's parameters from settings."""
    d = settings.detection
    return DetectionConfig(
        tier_thresholds={
            RiskTier.HIGH: d.tiers.high,
            RiskTier.MEDIUM: d.tiers.medium,
            RiskTier.LOW: d.tiers.low,
        },
        default_report_period_s=d.default_report_period,
        offline_after_periods=d.offline_after_periods,
        device_offline_grace_s=d.device_offline_grace,
        catch_up_grace_s=d.catch_up_grace,
        never_reported_grace_s=d.never_reported_grace,
        blind_limit_s=d.blind_limit,
        detector=d.detector,
        unplugged_after_s=d.unplugged_after,
        outage_share=d.outage_share,
        outage_min_plugs=d.outage_min_plugs,
        activity=ActivityConfig(
            in_use_margin_w=d.in_use_margin_w, step_w=d.step_w, hidden_use_wh=d.hidden_use_wh
        ),
        routine=RoutineConfig(warnings_per_month=d.learnt_warnings_per_month),
        check_in_before_s=d.check_in_before,
    )


def payload_options(settings: Settings) -> PayloadOptions:
    """Decoder options from settings."""
    m = settings.mqtt
    return PayloadOptions(
        native_prefix=m.native_prefix,
        max_payload_bytes=m.max_payload_bytes,
        max_clock_skew_s=m.max_clock_skew,
        tasmota_full_topic=m.tasmota_full_topic,
        tasmota_timezone=m.tasmota_timezone,
        shelly_prefix=m.shelly_prefix,
        shelly2_prefixes=tuple(m.shelly2_prefixes),
        zigbee2mqtt_base_topics=tuple(m.zigbee2mqtt_base_topics),
        esphome_nodes=tuple(m.esphome_nodes),
        esphome_energy_scale=m.esphome_energy_scale,
    )


def fanout_config(settings: Settings) -> FanoutConfig:
    """Which channels alert events go to."""
    return FanoutConfig(
        alert_topic_prefix=settings.mqtt.alert_topic_prefix,
        mqtt=True,
        webhook=settings.webhook.url is not None,
    )


def new_engine(
    settings: Settings,
    households: list[Household],
    store: SqliteStore,
    started_at: float,
    *,
    catch_up: bool = True,
) -> Engine:
    """An engine restored from the store (start-up, and a reload with ``catch_up=False``:
    nothing was missed, so no catch-up grace)."""
    config = detection_config(settings)
    if not catch_up:
        config = dataclasses.replace(config, catch_up_grace_s=0.0)
    engine = Engine(config, households, started_at)
    engine.restore(store.load_plugs(), store.load_households(), store.list_alerts(open_only=True))
    return engine


def configured_channels(settings: Settings) -> frozenset[str]:
    """The channels careplug can deliver on with these settings."""
    channels = {"mqtt"}
    if settings.webhook.url is not None:
        channels.add("webhook")
    if settings.email.host is not None:
        channels.add("email")
    if settings.sms.url is not None:
        channels.add("sms")
    return frozenset(channels)


def build_router(
    settings: Settings, households: list[Household], channels: frozenset[str] | None = None
) -> AlertRouter:
    """Who hears of each alert transition (the recipients file, when configured)."""
    directory = None
    if settings.notify.recipients is not None:
        from careplug.adapters.recipients_toml import load_directory

        directory = load_directory(settings.notify.recipients)
    secret = settings.console.self_check_secret
    return AlertRouter(
        fanout_config(settings),
        directory,
        households,
        channels,
        console_url=settings.console.public_url,
        self_check_secret=secret.get_secret_value() if secret else None,
    )


def build_summaries(settings: Settings, store: SqliteStore) -> DailySummaries | None:
    """The daily summaries per caseworker, when enabled (they need a recipients file)."""
    n = settings.notify
    if not n.daily_summary or n.recipients is None:
        return None
    from careplug.domain.drift import DriftConfig

    return DailySummaries(
        store,
        n.daily_summary_at,
        DriftConfig(later_by_s=n.drift_later_by),
        false_alarms=false_alarm_config(settings),
    )


def false_alarm_config(settings: Settings) -> FalseAlarmConfig:
    """When a household's alarms call for a review of its set-up (summary and console)."""
    n = settings.notify
    return FalseAlarmConfig(n.false_alarm_window, n.false_alarm_review)


def build_notifiers(settings: Settings, mqtt: MqttConnection) -> dict[str, Notifier]:
    """One notifier per configured channel."""
    notifiers: dict[str, Notifier] = {"mqtt": MqttAlertNotifier(mqtt)}
    if settings.email.host is not None:
        from careplug.adapters.notifiers.email import EmailNotifier

        e = settings.email
        notifiers["email"] = EmailNotifier(
            settings.email.host,
            e.port,
            username=e.username,
            password=e.password.get_secret_value() if e.password else None,
            starttls=e.starttls,
            ssl=e.ssl,
            sender=e.sender,
            timeout_s=e.timeout,
        )
    if settings.sms.url is not None:
        from careplug.adapters.notifiers.sms import SmsGatewayNotifier

        notifiers["sms"] = SmsGatewayNotifier(
            settings.sms.url.get_secret_value(),
            settings.sms.method,
            settings.sms.body_template,
            settings.sms.headers,
            settings.sms.timeout,
        )
    if settings.webhook.url is not None:
        from careplug.adapters.notifiers.webhook import WebhookNotifier

        secret = settings.webhook.secret.get_secret_value() if settings.webhook.secret else None
        notifiers["webhook"] = WebhookNotifier(
            settings.webhook.url.get_secret_value(), secret, settings.webhook.timeout
        )
    return notifiers


@dataclass
class Daemon:
    """A running careplug: MQTT in, engine, store, notifications out."""

    settings: Settings
    clock: Clock
    store: SqliteStore
    engine: Engine
    driver: Driver
    mqtt: MqttConnection
    delivery: DeliveryWorker
    scheduler: BackgroundScheduler
    metrics: CareplugMetrics
    http: MetricsServer | None
    history: InfluxSink | None
    _stack: contextlib.ExitStack
    config_path: Path | None = None

    def stop(self) -> None:
        """Orderly shutdown (idempotent)."""
        self._stack.close()


def start_daemon(
    settings: Settings,
    clock_mode: ClockMode = "system",
    config_path: Path | None = None,
    households: list[Household] | None = None,
) -> Daemon:
    """Build every part from settings and start them; the caller stops with ``Daemon.stop``."""
    wall = SystemClock()
    # a replay's event time starts with its first clock message (the driver rebases then)
    clock: Clock = VirtualClock(0.0) if clock_mode == "replay" else wall
    stack = contextlib.ExitStack()
    # runs last on stop: what start-up froze is garbage once the daemon is stopped (and an
    # in-process daemon, as in tests, must not leave the host process's objects frozen)
    stack.callback(thaw)
    try:
        # a hundred thousand households: millions of objects, built without GC passes
        with bulk_build():
            if households is None:
                households = load_registry(settings.registry.path)
                release_freed_memory()  # (as cmd_run does: see there)
            store = SqliteStore(settings.store.path, cache_kib=settings.store.page_cache_kib)
            stack.callback(store.close)
            engine = new_engine(settings, households, store, clock.now())
        release_freed_memory()
        options = payload_options(settings)
        metrics = CareplugMetrics(clock)
        history: InfluxSink | None = None
        if settings.influx.url:
            from careplug.adapters.influx import InfluxSink

            i = settings.influx
            history = InfluxSink(
                url=settings.influx.url,
                token=i.token.get_secret_value() if i.token else "",
                org=i.org,
                bucket=i.bucket,
                max_points=i.max_points,
                batch_size=i.batch_size,
                flush_interval_s=i.flush_interval,
                retry_max_s=i.retry_max,
            )
            history.start()
            stack.callback(history.close)
            metrics.track_sink(history.stats)
        router = build_router(settings, households, configured_channels(settings))
        engine.set_self_check(router.self_check_households())
        driver = Driver(
            engine,
            store,
            clock,
            tick_s=settings.detection.tick,
            lateness_s=0.0 if clock_mode == "replay" else settings.detection.lateness,
            router=router,
            payload_options=options,
            clock_topic=settings.mqtt.clock_topic,
            follow_clock_messages=clock_mode == "replay",
            wall=wall.now,
            history=history,
            metrics=metrics,
            own_topics=frozenset({settings.mqtt.status_topic}),
            summaries=build_summaries(settings, store),
        )
        topics = subscriptions(options, settings.mqtt.formats) + list(settings.mqtt.extra_topics)
        if clock_mode == "replay":
            topics.append(settings.mqtt.clock_topic)
        m = settings.mqtt
        mqtt = MqttConnection(
            MqttOptions(
                host=m.host,
                port=m.port,
                client_id=m.client_id,
                protocol=m.protocol,
                username=m.username,
                password=m.password.get_secret_value() if m.password else None,
                tls=m.tls,
                ca_file=m.ca_file,
                cert_file=m.cert_file,
                key_file=m.key_file,
                keepalive=int(m.keepalive),
                session_expiry_s=int(m.session_expiry),
                qos=m.qos,
                status_topic=m.status_topic,
                reconnect_min_s=max(1, int(m.reconnect_min)),
                reconnect_max_s=max(1, int(m.reconnect_max)),
            ),
            topics,
            driver.submit_message,
            driver.connection_changed,
            on_messages=driver.submit_messages,
        )
        driver.set_ack(mqtt.ack_many)
        delivery = DeliveryWorker(
            store,
            build_notifiers(settings, mqtt),
            wall.now,
            retry_base=settings.delivery.retry_base,
            retry_max=settings.delivery.retry_max,
            on_outcome=metrics.notification_outcome,
            directory=driver.router.directory,
        )
        driver._on_notifications = delivery.wake
        delivery.start()
        stack.callback(delivery.stop)
        driver.start()
        stack.callback(mqtt.stop)
        stack.callback(driver.stop)
        mqtt.start()
        # (imported only now: the import runs while the broker connection is being made)
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(daemon=True)
        scheduler.add_job(
            driver.wake,
            "interval",
            seconds=settings.detection.tick,
            id="tick",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        stack.callback(lambda: scheduler.shutdown(wait=False))
        if settings.console.enabled:
            _serve_console(settings, store, driver, wall, stack)
        http: MetricsServer | None = None
        if settings.http.enabled:
            http = MetricsServer(metrics, settings.http.host, settings.http.port)
            _add_readiness_checks(http, mqtt, store, driver, wall)
            http.start()
            stack.callback(http.close)
    except BaseException:
        stack.close()
        raise
    log.info(
        "daemon_started",
        households=len(households),
        plugs=len(engine.plugs),
        broker=f"{m.host}:{m.port}",
        clock=clock_mode,
        store=str(settings.store.path),
    )
    return Daemon(
        settings,
        clock,
        store,
        engine,
        driver,
        mqtt,
        delivery,
        scheduler,
        metrics,
        http,
        history,
        stack,
        config_path,
    )


def reload(daemon: Daemon) -> bool:
    """Re-read config and registry (SIGHUP); keep the running ones when the new are invalid.

    Detection settings, the registry and the recipients take effect at once; connection, store
    and HTTP settings need a restart (logged)."""
    try:
        settings = load_settings(daemon.config_path)
        households = load_registry(settings.registry.path)
        router = build_router(settings, households, configured_channels(daemon.settings))
    except CareplugError as exc:
        log.error("config_reload_failed", error=str(exc))
        return False
    restart = [
        name
        for name in ("mqtt", "store", "http", "influx", "email", "sms", "webhook")
        if getattr(settings, name) != getattr(daemon.settings, name)
    ]
    if restart:
        log.warning("config_reload_needs_restart", sections=restart)

    def swap() -> None:
        thaw()  # the replaced engine's cycles must be collectable
        with bulk_build(freeze=False):
            engine = new_engine(
                settings, households, daemon.store, daemon.clock.now(), catch_up=False
            )
            engine.set_self_check(router.self_check_households())
        daemon.driver.engine = engine
        daemon.driver.router = router
        daemon.driver.summaries = build_summaries(settings, daemon.store)
        daemon.engine = engine
        # dead-letter notices go to the operators of the new recipients file
        daemon.delivery.directory = router.directory

    daemon.driver.call(swap)
    daemon.settings = settings.model_copy(
        update={name: getattr(daemon.settings, name) for name in restart}
    )
    log.info(
        "config_reloaded", households=len(households), plugs=sum(len(h.plugs) for h in households)
    )
    return True


def _serve_console(
    settings: Settings,
    store: SqliteStore,
    driver: Driver,
    wall: Clock,
    stack: contextlib.ExitStack,
) -> None:
    """The caseworker console in the daemon's process, following registry reloads."""
    from careplug.adapters.web import ConsoleSettings, create_app, serve_in_thread

    c = settings.console
    app = create_app(
        store,
        lambda: [state.spec for state in driver.engine.households.values()],
        wall,
        # a lambda, not the bound method: a reload swaps the router
        notifications=lambda alert, audit: driver.router.for_transition(alert, audit),  # noqa: PLW0108
        settings=ConsoleSettings(
            session_ttl_s=c.session_ttl,
            secure_cookies=c.secure_cookies,
            self_check_secret=c.self_check_secret.get_secret_value()
            if c.self_check_secret
            else None,
            false_alarms=false_alarm_config(settings),
        ),
    )
    server = serve_in_thread(app, c.host, c.port)
    stack.callback(server.stop)
    log.info("console_started", url=server.url)


def _add_readiness_checks(
    http: MetricsServer, mqtt: MqttConnection, store: SqliteStore, driver: Driver, wall: Clock
) -> None:
    def broker() -> tuple[bool, str]:
        if mqtt.refused:
            return False, f"broker refused: {mqtt.refused}"
        return mqtt.connected.is_set(), "connected" if mqtt.connected.is_set() else "down"

    def writable() -> tuple[bool, str]:
        if not driver.store_ok:
            return False, "writes to the store are failing (disk full or read-only?)"
        ok = store.writable()
        return ok, "writable" if ok else "store is not writable"

    def traffic() -> tuple[bool, str]:
        if not driver.engine.plugs:
            return True, "no plugs enrolled"
        last = driver.stats.last_message_at
        if last is None:
            return False, "no message received yet"
        age = wall.now() - last
        return age < 900, f"last message {age:.0f} s ago"

    def handling() -> tuple[bool, str]:
        at = mqtt.last_handler_failure_at
        if at is None:
            return True, "no failures"
        # a bug, not bad input: shown for ten minutes after each failure
        age = monotonic() - at
        return age > 600, (
            f"{mqtt.handler_failures} failed, the last {age:.0f} s ago "
            f"({mqtt.last_handler_failure}); its messages come again on reconnect"
        )

    http.add_readiness_check("broker_connected", broker)
    http.add_readiness_check("message_handling", handling)
    http.add_readiness_check("store_writable", writable)
    http.add_readiness_check("receiving_traffic", traffic)


EXIT_REFUSED = 78  # EX_CONFIG: systemd's RestartPreventExitStatus stops the restart loop


def run_until_stopped(
    daemon: Daemon, stop: threading.Event, reload_requested: threading.Event | None = None
) -> int:
    """Block until ``stop`` is set (by a signal handler), then shut down; the exit status.

    Meanwhile: systemd watchdog pings, metrics gauges, careplug's self-check (traffic
    collapse → operator alert), daily retention, and reloads when ``reload_requested``."""
    notifier = SystemdNotifier.from_environment()
    notifier.ready("watching households")
    interval = notifier.watchdog_interval
    wall = SystemClock()
    watch = SystemWatch(daemon.store, daemon.driver.router, wall.now())
    next_watchdog = next_gauges = next_purge = next_store_notice = monotonic()
    status = 0
    try:
        while not stop.wait(0.5):
            now = monotonic()
            if interval is not None and now >= next_watchdog:
                notifier.watchdog()
                next_watchdog = now + interval / 2
            if reload_requested is not None and reload_requested.is_set():
                reload_requested.clear()
                notifier.reloading(int(now * 1e6))
                reload(daemon)
                watch.router = daemon.driver.router
                notifier.ready("configuration reloaded")
            if now >= next_gauges:
                _update_gauges(daemon)
                connected = daemon.mqtt.connected.is_set()
                if watch.check(wall.now(), daemon.driver.stats.messages.total(), connected):
                    daemon.delivery.wake()
                daemon.metrics.traffic_collapsed.set(1 if watch.open is not None else 0)
                notifier.status(
                    f"{len(daemon.engine.households)} households, broker "
                    f"{'connected' if connected else 'down'}, "
                    f"{daemon.driver.stats.readings} readings handled"
                )
                next_gauges = now + 15.0
            if not daemon.driver.store_ok and now >= next_store_notice:
                _announce_store_failure(daemon, wall.now())
                next_store_notice = now + 600.0
            if now >= next_purge:
                s = daemon.settings.store
                purged = daemon.store.purge(
                    wall.now() - s.alert_retention, wall.now() - s.outbox_retention
                )
                if any(purged.values()):
                    log.info("retention_purged", **purged)
                next_purge = now + 86400.0
            if daemon.mqtt.refused is not None:
                log.error("broker_refused_permanently", reason=daemon.mqtt.refused)
                status = EXIT_REFUSED
                break
    finally:
        notifier.stopping()
        daemon.stop()
        log.info("daemon_stopped")
    return status


def _announce_store_failure(daemon: Daemon, at: float) -> None:
    """An operator alert that cannot wait for the store: straight to the MQTT alert topic."""
    topic = f"{daemon.settings.mqtt.alert_topic_prefix.rstrip('/')}/{SYSTEM_HOUSEHOLD}"
    body = {
        "event": "raised",
        "at": iso(at),
        "alert": {
            "household": SYSTEM_HOUSEHOLD,
            "kind": AlertKind.SYSTEM_DEGRADED.value,
            "severity": "critical",
            "message": "careplug cannot write its store (disk full or read-only); readings "
            "are held unacknowledged at the broker until it can",
        },
    }
    try:
        daemon.mqtt.publish(topic, json.dumps(body), qos=1)
    except DeliveryError as exc:
        log.error("operator_notice_failed", error=str(exc))


def _update_gauges(daemon: Daemon) -> None:
    metrics, engine = daemon.metrics, daemon.engine
    metrics.set_broker_connected(daemon.mqtt.connected.is_set(), daemon.mqtt.handler_failures)
    opened: dict[tuple[str, str], int] = {}
    for alert in list(engine.open_alerts.values()):
        key = (alert.kind.value, alert.severity.value)
        opened[key] = opened.get(key, 0) + 1
    metrics.set_open_alerts(opened)
    statuses: dict[str, int] = {}
    for household in list(engine.households):
        status = engine.household_status(household)
        statuses[status] = statuses.get(status, 0) + 1
    metrics.set_households(statuses)
