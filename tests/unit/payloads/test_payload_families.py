"""Family-specific behaviour: topic layouts, unit conversions, what is ignored, detection."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from careplug.adapters.payloads import (
    FAMILIES,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    decode,
    detect_family,
    subscriptions,
)
from careplug.domain.model import DecodedItem, ItemKind
from careplug.errors import ConfigError

OPTS = PayloadOptions()
NOW = datetime(2026, 11, 25, 7, 40, 0, tzinfo=UTC).timestamp()  # 16:40 in Seoul


def _one(
    topic: str, payload: str, options: PayloadOptions = OPTS, fmt: str = "auto"
) -> DecodedItem:
    items = decode(topic, payload.encode(), NOW, fmt, options)
    assert len(items) == 1, items
    return items[0]


# -- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "family"),
    [
        ("careplug/plugs/plug-001/reading", "native"),
        ("careplug/plugs/plug-001/status", "native"),
        ("tele/kettle/SENSOR", "tasmota"),
        ("tele/kettle/STATE", "tasmota"),
        ("tele/kettle/LWT", "tasmota"),
        ("stat/kettle/STATUS10", "tasmota"),
        ("stat/kettle/RESULT", "tasmota"),
        ("shellies/shellyplug-s-C18B12/relay/0/power", "shelly"),
        ("shellies/shellyplug-s-C18B12/online", "shelly"),
        ("shellies/announce", "shelly"),
        ("shellyplusplugs-e86beae8b6a0/status/switch:0", "shelly2"),
        ("shellyplusplugs-e86beae8b6a0/events/rpc", "shelly2"),
        ("shellyplusplugs-e86beae8b6a0/online", "shelly2"),
        # a Gen2 device configured with a ``shellies/…`` prefix is still Gen2
        ("shellies/shellyplus1pm-xxxx/status/switch:0", "shelly2"),
        ("shellies/shellyplus1pm-xxxx/events/rpc", "shelly2"),
        ("zigbee2mqtt/tv-plug", "zigbee2mqtt"),
        ("zigbee2mqtt/tv-plug/availability", "zigbee2mqtt"),
        ("zigbee2mqtt/bridge/state", "zigbee2mqtt"),
        # a friendly name that looks like another family's topic stays Zigbee2MQTT
        ("zigbee2mqtt/kitchen/online", "zigbee2mqtt"),
        ("zigbee2mqtt/plug/status", "zigbee2mqtt"),
        ("plug-01-tv/sensor/power/state", "esphome"),
        ("plug-01-tv/status", "esphome"),
        ("plug-01-tv/switch/relay/state", "esphome"),
        # an ESPHome sensor named "status" is not a Shelly Gen2 status topic
        ("plug-01-tv/sensor/status/state", "esphome"),
    ],
)
def test_auto_detects_each_documented_topic(topic: str, family: str) -> None:
    """``auto`` picks the right family for every documented topic shape."""
    detected = detect_family(topic, OPTS)
    assert detected is not None
    assert detected.name == family


@pytest.mark.parametrize(
    "topic", ["homeassistant/status", "careplug/status", "random", "a/b/c/d/e", ""]
)
def test_foreign_topics_are_unknown(topic: str) -> None:
    """Home Assistant's birth topic, careplug's own LWT and junk belong to no family."""
    with pytest.raises(PayloadRejected) as caught:
        decode(topic, b"online", NOW, "auto", OPTS)
    assert caught.value.reason is RejectReason.UNKNOWN_TOPIC


def test_default_subscriptions_cover_every_family() -> None:
    """The default filters subscribe to every family's documented topics."""
    filters = subscriptions(OPTS)
    for expected in (
        "tele/+/SENSOR",
        "tele/+/LWT",
        "stat/+/STATUS10",
        "shellies/#",
        "+/events/rpc",
        "+/status/+",
        "zigbee2mqtt/#",
        "+/sensor/+/state",
        "+/status",
    ):
        assert expected in filters
    assert set(FAMILIES) == {"native", "tasmota", "shelly", "shelly2", "zigbee2mqtt", "esphome"}


# -- Tasmota -----------------------------------------------------------------------------


def test_tasmota_time_is_seoul_local_by_default() -> None:
    """``Time`` without offset is read in Asia/Seoul: 16:40:00 KST is 07:40:00Z."""
    item = _one("tele/kettle/SENSOR", '{"Time":"2026-11-25T16:40:00","ENERGY":{"Power":1800}}')
    assert item.time == NOW
    assert item.power_w == 1800.0


def test_tasmota_time_zone_is_configurable() -> None:
    """With the zone set to UTC the same clock reading is nine hours off and not trusted."""
    options = replace(OPTS, tasmota_timezone="UTC")
    item = _one(
        "tele/kettle/SENSOR", '{"Time":"2026-11-25T16:40:00","ENERGY":{"Power":5}}', options
    )
    assert item.time is None


def test_tasmota_time_with_offset_is_honoured() -> None:
    """A ``Time`` carrying an offset (TimeStamp option) is used as is."""
    item = _one("tele/k/SENSOR", '{"Time":"2026-11-25T07:40:05+00:00","ENERGY":{"Power":5}}')
    assert item.time == NOW + 5


def test_tasmota_unsynced_clock_uses_receive_time() -> None:
    """An unsynced 1970 clock is not trusted."""
    item = _one("tele/k/SENSOR", '{"Time":"1970-01-01T00:00:42","ENERGY":{"Power":5}}')
    assert item.time is None


def test_tasmota_today_yesterday_period_are_never_the_counter() -> None:
    """Only ``Total`` feeds energy_wh: a message with Today/Yesterday/Period alone has none."""
    items = decode(
        "tele/k/SENSOR",
        b'{"ENERGY":{"Today":1.5,"Yesterday":2.5,"Period":12}}',
        NOW,
        "tasmota",
        OPTS,
    )
    assert items == []


def test_tasmota_custom_full_topic_with_extra_levels() -> None:
    """A FullTopic ``home/%prefix%/%topic%/`` puts a literal level first."""
    options = replace(OPTS, tasmota_full_topic="home/%prefix%/%topic%/")
    item = _one("home/tele/kettle/SENSOR", '{"ENERGY":{"Power":12,"Total":1.5}}', options)
    assert (item.device, item.power_w, item.energy_wh) == ("kettle", 12.0, 1500.0)
    assert "home/tele/+/SENSOR" in subscriptions(options, ["tasmota"])
    assert detect_family("tele/kettle/SENSOR", options) is None


def test_tasmota_per_channel_power_with_device_total_drops_the_total() -> None:
    """A device-wide Total next to per-channel Power cannot be split: energy is unknown."""
    items = decode(
        "tele/dual/SENSOR", b'{"ENERGY":{"Power":[10,0],"Total":3.2}}', NOW, "tasmota", OPTS
    )
    assert [(i.channel, i.power_w, i.energy_wh) for i in items] == [(1, 10.0, None), (2, 0.0, None)]


def test_tasmota_sensor_without_energy_is_ignored() -> None:
    """A SENSOR message from a temperature sensor carries nothing for careplug."""
    assert decode("tele/t/SENSOR", b'{"DS18B20":{"Temperature":21}}', NOW, "auto", OPTS) == []


def test_tasmota_status10_nested_under_statussns() -> None:
    """STATUS10 nests ENERGY under StatusSNS."""
    item = _one("stat/k/STATUS10", '{"StatusSNS":{"ENERGY":{"Power":" 7 ","Total":"0.5"}}}')
    assert (item.power_w, item.energy_wh) == (7.0, 500.0)


# -- Shelly ------------------------------------------------------------------------------


def test_shelly_gen1_emeter_total_is_already_wh() -> None:
    """EM/3EM ``emeter/<n>/total`` is Wh, unlike relay energy in watt-minutes."""
    item = _one("shellies/shellyem3-1234/emeter/2/total", "1234.5")
    assert (item.channel, item.energy_wh) == (2, 1234.5)


def test_shelly_gen1_relay_state_is_ignored() -> None:
    """``relay/0`` on/off is not evidence of use."""
    assert decode("shellies/plug/relay/0", b"on", NOW, "auto", OPTS) == []


def test_shelly2_missing_apower_is_unknown_not_zero() -> None:
    """A NotifyStatus with only aenergy leaves power unknown."""
    item = _one(
        "dev/events/rpc",
        json.dumps(
            {"method": "NotifyStatus", "params": {"ts": NOW, "switch:1": {"aenergy": {"total": 5}}}}
        ),
    )
    assert (item.channel, item.power_w, item.energy_wh, item.time) == (1, None, 5.0, NOW)


def test_shelly2_other_rpc_methods_are_ignored() -> None:
    """NotifyEvent and other methods carry nothing for careplug."""
    payload = b'{"method":"NotifyEvent","params":{"ts":1,"events":[]}}'
    assert decode("dev/events/rpc", payload, NOW, "auto", OPTS) == []


def test_shelly2_configured_prefixes() -> None:
    """With prefixes configured only those are Gen2, and they may contain ``/``."""
    options = replace(OPTS, shelly2_prefixes=("home/plug1",))
    item = _one("home/plug1/status/switch:0", '{"apower":3}', options)
    assert item.device == "home/plug1"
    assert detect_family("other/status/switch:0", options) is None
    assert subscriptions(options, ["shelly2"])[0] == "home/plug1/online"


# -- Zigbee2MQTT -------------------------------------------------------------------------


def test_z2m_energy_today_is_never_the_counter() -> None:
    """``energy_today`` resets at midnight and is ignored."""
    assert decode("zigbee2mqtt/p", b'{"energy_today":0.4,"state":"ON"}', NOW, "auto", OPTS) == []


def test_z2m_base_topics_are_configurable_longest_first() -> None:
    """Two bridges: ``z2m`` and ``z2m/floor2``; the longer base wins."""
    options = replace(OPTS, zigbee2mqtt_base_topics=("z2m", "z2m/floor2"))
    item = _one("z2m/floor2/bridge/state", "offline", options)
    assert (item.kind, item.device, item.online) == (
        ItemKind.GATEWAY_AVAILABILITY,
        "z2m/floor2",
        False,
    )
    reading = _one("z2m/fridge", '{"power":80}', options)
    assert reading.gateway == "z2m"
    assert detect_family("zigbee2mqtt/fridge", options) is None


def test_z2m_set_commands_and_bridge_topics_are_ignored() -> None:
    """Commands to a plug and bridge chatter yield no item."""
    for topic in ("zigbee2mqtt/p/set", "zigbee2mqtt/p/set/state", "zigbee2mqtt/bridge/logging"):
        assert decode(topic, b'{"state":"ON","power":5}', NOW, "auto", OPTS) == []


def test_z2m_last_seen_iso_is_used_when_sane() -> None:
    """The optional ``last_seen`` (ISO 8601 with offset) becomes the reading time."""
    item = _one("zigbee2mqtt/p", '{"power":5,"last_seen":"2026-11-25T16:39:58+09:00"}')
    assert item.time == NOW - 2


# -- ESPHome -----------------------------------------------------------------------------


def test_esphome_sensor_words_are_configurable() -> None:
    """A node whose sensor is called ``watts`` is read as power once configured."""
    options = replace(OPTS, esphome_power_words=("watts",))
    item = _one("node/sensor/watts/state", "12", options)
    assert item.power_w == 12.0
    assert decode("node/sensor/power/state", b"12", NOW, "auto", options) == []


def test_esphome_other_sensors_are_ignored() -> None:
    """A temperature sensor yields no item."""
    assert decode("node/sensor/temperature/state", b"21.5", NOW, "auto", OPTS) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"tasmota_full_topic": "%topic%/SENSOR"},
        {"tasmota_full_topic": "%prefix%/"},
        {"tasmota_timezone": "Mars/Olympus"},
        {"esphome_energy_scale": 0.0},
    ],
)
def test_bad_layout_options_stop_start_up(changes: dict[str, object]) -> None:
    """A FullTopic without %prefix%/%topic%, an unknown zone or a zero scale is a ConfigError."""
    with pytest.raises(ConfigError) as caught:
        replace(OPTS, **changes)  # type: ignore[arg-type]
    assert str(caught.value).startswith("mqtt.")
