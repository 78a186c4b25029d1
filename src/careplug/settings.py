"""Configuration: a TOML file, overridable by ``CAREPLUG_*`` environment variables.

Nested fields are reached with a double underscore: ``CAREPLUG_MQTT__HOST=broker``.
Durations are written ``90s``, ``15m``, ``24h``, ``2d`` (or plain seconds).
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from careplug.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """Seconds from ``90s``, ``15m``, ``24h``, ``2d``, ``1w``, ``500ms`` or a number."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit, like 15m or 24h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; write it like 90s, 15m, 24h or 2d")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise ValueError("a duration is a number with a unit, like 15m or 24h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration (``86400`` → ``1d``)."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    """Connection to the MQTT broker the plugs publish to."""

    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="broker port (8883 for TLS)")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version")
    client_id: str = Field(
        "careplug", min_length=1, description="client id; fixed so the session persists"
    )
    username: str | None = Field(None, description="user name, if the broker needs one")
    password: SecretStr | None = Field(None, description="password (prefer the env variable)")
    tls: bool = Field(False, description="connect with TLS")
    ca_file: Path | None = Field(None, description="CA bundle to verify the broker")
    cert_file: Path | None = Field(None, description="client certificate for mutual TLS")
    key_file: Path | None = Field(None, description="client key for mutual TLS")
    keepalive: Duration = Field(30.0, gt=0, description="MQTT keep-alive interval")
    session_expiry: Duration = Field(
        7 * 86400.0,
        description="how long the broker keeps careplug's session and queued readings (MQTT 5)",
    )
    qos: Literal[0, 1, 2] = Field(1, description="subscription QoS (1: nothing lost)")
    formats: list[str] = Field(
        default_factory=lambda: ["native"],
        description="payload families to subscribe to: native, tasmota, shelly, shelly2, "
        "zigbee2mqtt, esphome",
    )
    native_prefix: str = Field("careplug/plugs", description="topic prefix of careplug's JSON")
    extra_topics: list[str] = Field(
        default_factory=list, description="more topic filters to subscribe to (auto-detected)"
    )
    alert_topic_prefix: str = Field(
        "careplug/alerts", description="alerts are published to <prefix>/<household>"
    )
    status_topic: str = Field(
        "careplug/status", description="retained online/offline status with a Last Will"
    )
    clock_topic: str = Field(
        "careplug/clock", description="event-time clock messages, followed with --clock replay"
    )
    reconnect_min: Duration = Field(1.0, gt=0, description="first reconnect delay")
    reconnect_max: Duration = Field(60.0, gt=0, description="longest reconnect delay")
    tasmota_full_topic: str = Field(
        "%prefix%/%topic%/", description="Tasmota FullTopic template of your plugs"
    )
    tasmota_timezone: str = Field(
        "Asia/Seoul", description="time zone of Tasmota's local Time field"
    )
    shelly_prefix: str = Field("shellies", description="Shelly Gen1 topic prefix")
    shelly2_prefixes: list[str] = Field(
        default_factory=list, description="Shelly Gen2+ topic prefixes (empty: any)"
    )
    zigbee2mqtt_base_topics: list[str] = Field(
        default_factory=lambda: ["zigbee2mqtt"], description="Zigbee2MQTT base topics"
    )
    esphome_nodes: list[str] = Field(
        default_factory=list, description="ESPHome node names (empty: any)"
    )
    esphome_energy_scale: float = Field(
        1.0, gt=0, description="Wh per unit of ESPHome energy sensors (1000 for kWh)"
    )
    max_payload_bytes: int = Field(16384, ge=256, description="larger payloads are rejected")
    max_clock_skew: Duration = Field(
        600.0, description="device clocks further off than this are replaced by receive time"
    )


class StoreSettings(_Section):
    """Where careplug keeps state that must survive a restart."""

    path: Path = Field(Path("careplug.db"), description="SQLite database file")
    alert_retention: Duration = Field(
        2 * 365 * 86400.0, gt=0, description="resolved alerts and their audit trail kept this long"
    )
    outbox_retention: Duration = Field(
        30 * 86400.0, gt=0, description="delivered or dead notifications kept this long"
    )
    page_cache_kib: int = Field(
        512,
        ge=64,
        le=1_048_576,
        description="SQLite page cache per connection, KiB (SQLite's own default: 2000)",
    )


class WebhookSettings(_Section):
    """A generic webhook that receives every alert event as JSON."""

    url: SecretStr | None = Field(
        None, description="POST alert events here (secret: may hold a token)"
    )
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 signing key")
    timeout: Duration = Field(10.0, gt=0, description="HTTP timeout")


class NotifySettings(_Section):
    """Who is told: recipients, teams, consents and escalation (config/recipients.example.toml).

    Without a recipients file, alerts go only to the MQTT alert topic and the webhook."""

    recipients: Path | None = Field(
        None, description="recipients/teams/escalation file (relative to this config)"
    )
    daily_summary: bool = Field(
        False,
        description="send each caseworker of the recipients file a daily summary: households "
        "OK, open alerts, households whose routine is drifting",
    )
    daily_summary_at: time = Field(
        time(8, 30), description="local time of the daily summary, in each caseworker's zone"
    )
    drift_later_by: Duration = Field(
        3600.0,
        gt=0,
        description="a routine drifts to later mornings when the first activity of the day "
        "is this much later (last two weeks against the two before)",
    )
    false_alarm_window: Duration = Field(
        28 * 86400.0,
        gt=0,
        description="the daily summary lists households with false_alarm_review alarms in "
        "this window that ended with the resident fine",
    )
    false_alarm_review: int = Field(
        3,
        ge=1,
        description="alarms ending with the resident fine (OK, visited OK, false alarm, away, "
        "activity resumed) within false_alarm_window that put a household on the summary's "
        "review list",
    )


class EmailSettings(_Section):
    """SMTP for the email channel; off unless ``host`` is set."""

    host: str | None = Field(None, description="SMTP server")
    port: int = Field(587, ge=1, le=65535, description="587 with STARTTLS, 465 with ssl")
    username: str | None = Field(None, description="SMTP user")
    password: SecretStr | None = Field(None, description="SMTP password (prefer the env var)")
    starttls: bool = Field(True, description="upgrade with STARTTLS")
    ssl: bool = Field(False, description="implicit TLS (port 465)")
    sender: str = Field("careplug@localhost", description="From address")
    timeout: Duration = Field(30.0, gt=0, description="SMTP timeout")


class SmsSettings(_Section):
    """An HTTP SMS gateway for the sms channel; off unless ``url`` is set."""

    url: SecretStr | None = Field(None, description="gateway URL ({to}, {text}, {key} allowed)")
    method: Literal["POST", "GET"] = Field("POST", description="HTTP method")
    body_template: str = Field(
        '{"to": "{to}", "text": "{text}", "ref": "{key}"}',
        description="request body; values are escaped for its content type",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")
    timeout: Duration = Field(10.0, gt=0, description="HTTP timeout")


class DeliverySettings(_Section):
    """How notifications are retried."""

    retry_base: Duration = Field(5.0, gt=0, description="first retry delay")
    retry_max: Duration = Field(3600.0, gt=0, description="longest retry delay")


class TierSettings(_Section):
    """Hard inactivity threshold per risk tier (the backstop)."""

    high: Duration = Field(12 * 3600.0, gt=0, description="high-risk households")
    medium: Duration = Field(24 * 3600.0, gt=0, description="medium-risk households")
    low: Duration = Field(36 * 3600.0, gt=0, description="low-risk households")


class DetectionSettings(_Section):
    """When careplug decides someone is inactive and a plug is offline."""

    detector: Literal["learning", "fixed"] = Field(
        "learning",
        description="learning: graded alerts from each household's own routine, with the "
        "tier threshold as backstop; fixed: the tier threshold only (today's practice)",
    )
    tiers: TierSettings = Field(default_factory=TierSettings)
    learnt_warnings_per_month: float = Field(
        1.0,
        ge=0,
        description="learning: about how many warnings a household's normal days may cause a "
        "month (its warning level moves into its own tail); 0 keeps the plain 99th percentile",
    )
    check_in_before: Duration = Field(
        3600.0,
        ge=0,
        description="learning: a household with a resident self-check is asked this long "
        "before its tier limit (an answer restarts the count); 0 turns it off",
    )
    tick: Duration = Field(0.5, gt=0, description="how often deadlines are checked")
    lateness: Duration = Field(
        1.0, ge=0, description="how long a reading may arrive after its time and still be in order"
    )
    default_report_period: Duration = Field(
        300.0, gt=0, description="expected report period of a plug (Tasmota's default: 5m)"
    )
    offline_after_periods: float = Field(
        3.0, gt=0, description="missed report periods before a plug counts as offline"
    )
    device_offline_grace: Duration = Field(
        300.0, description="how long a plug stays offline before an alert"
    )
    catch_up_grace: Duration = Field(
        120.0, description="after start-up or reconnect, wait this long for queued readings"
    )
    never_reported_grace: Duration = Field(
        6 * 3600.0, description="an enrolled plug silent this long from start is reported"
    )
    blind_limit: Duration = Field(
        24 * 3600.0, description="a household unseen this long is escalated as blind"
    )
    unplugged_after: Duration = Field(
        6 * 3600.0,
        gt=0,
        description="a plug at ~0 W this long, where it showed standby, is unplugged",
    )
    outage_share: float = Field(
        0.3, gt=0, le=1, description="share of an area's plugs going offline together = outage"
    )
    outage_min_plugs: int = Field(5, ge=1, description="... and at least this many plugs")
    in_use_margin_w: float = Field(10.0, gt=0, description="W above standby that mean 'in use'")
    step_w: float = Field(50.0, gt=0, description="a power step of this many W is activity")
    hidden_use_wh: float = Field(
        3.0, gt=0, description="Wh beyond what the power samples explain that count as use"
    )


class RegistrySettings(_Section):
    """The household registry."""

    path: Path = Field(
        Path("households.toml"), description="registry file (TOML or CSV), relative to config"
    )


class InfluxSettings(_Section):
    """History in InfluxDB 2 (v2 write API); off unless ``url`` is set."""

    url: str | None = Field(None, description="InfluxDB base URL, e.g. http://influxdb:8086")
    token: SecretStr | None = Field(None, description="API token with write access")
    org: str = Field("careplug", description="organisation")
    bucket: str = Field("careplug", description="bucket")
    max_points: int = Field(100_000, ge=100, description="buffer bound; oldest dropped beyond")
    batch_size: int = Field(1000, ge=1, description="points per write")
    flush_interval: Duration = Field(1.0, gt=0, description="how often the buffer is flushed")
    retry_max: Duration = Field(60.0, gt=0, description="longest retry delay")


class LoggingSettings(_Section):
    """Log output."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: readable on a terminal, JSON lines otherwise"
    )


class HttpSettings(_Section):
    """The HTTP endpoint for /metrics, /healthz and /readyz."""

    enabled: bool = Field(False, description="serve /metrics, /healthz and /readyz")
    host: str = Field("127.0.0.1", description="bind address (loopback by default)")
    port: int = Field(9310, ge=0, le=65535, description="port (0 picks a free one)")


class ConsoleSettings(_Section):
    """The caseworker web console and its API, served by the daemon."""

    enabled: bool = Field(False, description="serve the console from the daemon process")
    host: str = Field("127.0.0.1", description="bind address (loopback by default)")
    port: int = Field(9320, ge=0, le=65535, description="port")
    secure_cookies: bool = Field(False, description="Secure cookies (behind an HTTPS proxy)")
    session_ttl: Duration = Field(8 * 3600.0, gt=0, description="a login lasts this long")
    public_url: str | None = Field(
        None, description="base URL residents reach the console at, for self-check links"
    )
    self_check_secret: SecretStr | None = Field(
        None, description="HMAC secret of the one-tap self-check links"
    )


class Settings(BaseSettings):
    """Everything careplug can be told. See config/careplug.example.toml."""

    model_config = SettingsConfigDict(
        env_prefix="CAREPLUG_", env_nested_delimiter="__", extra="forbid"
    )

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values win, then ``CAREPLUG_*`` environment variables, then the file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def load_settings(path: Path | None) -> Settings:
    """Read and validate the config file (None: defaults and environment only).

    Raises :class:`ConfigError` whose message names each bad field by its dotted path.
    """
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    settings_cls: type[Settings] = Settings
    if path is not None:
        # pydantic-settings reads the file named in model_config: bind it in a subclass
        config = {**Settings.model_config, "toml_file": path}
        settings_cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        settings = settings_cls()
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from exc
    if path is not None and not settings.registry.path.is_absolute():
        settings.registry.path = (path.parent / settings.registry.path).resolve()
    if (
        path is not None
        and settings.notify.recipients is not None
        and not settings.notify.recipients.is_absolute()
    ):
        settings.notify.recipients = (path.parent / settings.notify.recipients).resolve()
    if path is not None and not settings.store.path.is_absolute():
        settings.store.path = (path.parent / settings.store.path).resolve()
    return settings


def _explain(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path is not None else ""
    lines = [f"invalid configuration{where}:"]
    for error in exc.errors():
        field_path = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        lines.append(f"  {field_path}: {message}")
    return "\n".join(lines)


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with secrets masked and durations spelt out."""
    data: dict[str, Any] = settings.model_dump(mode="json")

    def mask(node: Any, model: Any) -> Any:
        if isinstance(model, BaseModel):
            out: dict[str, Any] = {}
            for name, field_info in type(model).model_fields.items():
                value = getattr(model, name)
                if isinstance(value, SecretStr):
                    out[name] = "********"
                elif isinstance(value, BaseModel):
                    out[name] = mask(node[name], value)
                elif field_info.metadata and any(
                    isinstance(m, BeforeValidator) and m.func is parse_duration
                    for m in field_info.metadata
                ):
                    out[name] = format_duration(value)
                else:
                    out[name] = node[name]
            return out
        return node

    result: dict[str, Any] = mask(data, settings)
    return result
