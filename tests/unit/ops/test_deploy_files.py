"""The deployment files hang together: what one names, another provides.

No Docker engine runs here, so these tests check what can be checked statically: files parse,
every referenced file exists, images are pinned, the dashboard asks only for metrics and
measurements careplug actually produces.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from careplug.adapters.influx import MEASUREMENTS
from careplug.adapters.metrics import CareplugMetrics

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
# Created by the operator with mosquitto_passwd (see compose.yaml); never committed.
OPERATOR_FILES = {DEPLOY / "mosquitto-passwd"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    data = load_yaml(DEPLOY / "compose.yaml")
    assert isinstance(data, dict)
    return data


def dashboard() -> dict[str, Any]:
    data = json.loads((DEPLOY / "grafana" / "dashboards" / "careplug.json").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_the_stack_with_pinned_images() -> None:
    """Mosquitto 2.x, InfluxDB 2.x, Grafana and careplug, no floating tags."""
    services = compose()["services"]
    assert {"mosquitto", "influxdb", "grafana", "careplug"} <= set(services)
    assert re.fullmatch(r"eclipse-mosquitto:2\.\d+\.\d+", services["mosquitto"]["image"])
    assert re.fullmatch(r"influxdb:2\.\d+\.\d+", services["influxdb"]["image"])
    for name, service in services.items():
        if "image" in service and "build" not in service:
            assert not service["image"].endswith(":latest"), name
            assert ":" in service["image"], name


def test_compose_bind_mounts_and_build_point_at_real_files() -> None:
    """Every ./relative volume source exists (or is the documented operator-made file)."""
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                path = (DEPLOY / source).resolve()
                assert path.exists() or path in OPERATOR_FILES, f"{name}: {source}"
    build = services["careplug"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()


def test_every_required_variable_is_in_the_env_example() -> None:
    """${VAR:?...} in compose.yaml means the stack refuses to start without VAR."""
    text = (DEPLOY / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    used = set(re.findall(r"\$\{(\w+)", text))
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required
    assert used <= set(example), used - set(example)


def test_mosquitto_config_matches_its_mounts() -> None:
    """No anonymous access, and the password file is where compose mounts it."""
    conf = (DEPLOY / "mosquitto.conf").read_text()
    settings = [line.split(None, 1) for line in conf.splitlines() if line and line[0] != "#"]
    pairs = {key: value.strip() for key, value in settings}
    assert pairs["allow_anonymous"] == "false"
    assert pairs["listener"] == "1883"
    mounts = [v.split(":")[1] for v in compose()["services"]["mosquitto"]["volumes"]]
    assert pairs["password_file"] in mounts
    assert "/mosquitto/config/mosquitto.conf" in mounts


def test_grafana_provisioning_matches_dashboard_and_mounts() -> None:
    """Datasource uids the dashboard uses are provisioned; the dashboard folder is mounted."""
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = load_yaml(provisioning / "datasources" / "careplug.yaml")["datasources"]
    uids = {s["uid"]: s["type"] for s in sources}
    influx = next(s for s in sources if s["type"] == "influxdb")
    assert influx["jsonData"]["version"] == "Flux"
    assert influx["secureJsonData"]["token"] == "$INFLUXDB_TOKEN"
    assert "INFLUXDB_TOKEN" in compose()["services"]["grafana"]["environment"]

    used = set()
    for panel in dashboard()["panels"]:
        used.add(panel["datasource"]["uid"])
        for target in panel["targets"]:
            used.add(target["datasource"]["uid"])
    assert used <= set(uids), used - set(uids)

    provider = load_yaml(provisioning / "dashboards" / "careplug.yaml")["providers"][0]
    grafana_volumes = compose()["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana_volumes


def test_dashboard_has_the_expected_panels() -> None:
    """Households by status, alerts, message rates and per-household power are all there."""
    titles = [p["title"] for p in dashboard()["panels"]]
    for wanted in ("Households by status", "Open alerts", "Message rate", "Power per plug"):
        assert any(t.startswith(wanted) for t in titles), wanted
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard()["templating"]["list"]}
    assert "household" in variables


def test_dashboard_queries_only_what_careplug_produces() -> None:
    """PromQL names exist in the metrics registry; Flux filters use the sink's schema."""
    families = {f.name: f.type for f in CareplugMetrics().registry.collect()}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}

    def produced(name: str) -> bool:
        if families.get(name) == "gauge":
            return True
        return any(
            name.removesuffix(suffix) in families and families[name.removesuffix(suffix)] == kind
            for kind, kind_suffixes in suffixes.items()
            for suffix in kind_suffixes
            if name.endswith(suffix)
        )

    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            if "expr" in target:
                for name in re.findall(r"\bcareplug_\w+", target["expr"]):
                    assert produced(name), name
            else:
                query = target["query"]
                for m in re.findall(r'r\._measurement == "(\w+)"', query):
                    assert m in MEASUREMENTS, m
                    for field in re.findall(r'r\._field == "(\w+)"', query):
                        assert field in MEASUREMENTS[m][1], (m, field)
                for tag in re.findall(r"r\.(\w+) ==", query):
                    if tag not in ("_measurement", "_field"):
                        assert any(tag in tags for tags, _ in MEASUREMENTS.values()), tag


def test_prometheus_scrapes_the_port_the_image_exposes() -> None:
    """prometheus.yml, the Dockerfile's EXPOSE and its HEALTHCHECK agree on the port."""
    targets = load_yaml(DEPLOY / "prometheus.yml")["scrape_configs"][0]["static_configs"][0]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    port = re.search(r"^EXPOSE (\d+)", dockerfile, re.M)
    assert port is not None
    assert targets["targets"] == [f"careplug:{port.group(1)}"]
    assert f"127.0.0.1:{port.group(1)}/healthz" in dockerfile


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    """Build stage, runtime stage copying from it, an unprivileged USER, a HEALTHCHECK."""
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [
        re.fullmatch(r"FROM (\S+) AS (\w+)", line) for line in lines if line.startswith("FROM")
    ]
    assert len(stages) >= 2 and all(stages)
    names = [m.group(2) for m in stages if m]
    final = max(i for i, line in enumerate(lines) if line.startswith("FROM"))
    runtime = lines[final:]
    copy_from = [re.search(r"--from=(\w+)", line) for line in runtime if "--from=" in line]
    assert copy_from and all(m and m.group(1) in names[:-1] for m in copy_from)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [line for line in runtime if line.startswith("HEALTHCHECK")]
    assert health and '"careplug", "healthcheck"' in health[0]


def test_dockerfile_copies_everything_the_package_build_needs() -> None:
    """pyproject's readme and package roots are copied into the build stage."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= set(pyproject["tool"]["setuptools"]["packages"]["find"]["where"])
    copied: set[str] = set()
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            copied |= set(line.split()[1:-1])
    assert needed <= copied, needed - copied
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "src").is_dir()
