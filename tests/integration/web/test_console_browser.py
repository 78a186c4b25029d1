"""The console end to end in headless Chromium: log in, see only your households, acknowledge
and resolve an alert, set away. Screenshots go to /tmp/console-shots/ for the review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from careplug.adapters.web import ConsoleServer, serve_in_thread
from careplug.domain.model import (
    AlertState,
    HouseholdId,
    Outcome,
)
from tests.conftest import need_binary
from tests.past_alarms import store_past_alarm
from tests.unit.web.console_support import PASSWORDS, World, build_world

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/console-shots")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path)
    yield w
    w.store.close()


@pytest.fixture
def server(world: World) -> Iterator[ConsoleServer]:
    running = serve_in_thread(world.app(), "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium = need_binary("chromium", "/usr/bin/chromium")
    driver_path = need_binary("chromedriver", "/usr/bin/chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1500",
        "--lang=ko-KR",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _shot(driver: webdriver.Chrome, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(800, min(int(height) + 40, 4000)))
    assert driver.save_screenshot(str(SHOTS / name))


def test_caseworker_works_an_alert_and_sets_away_in_chromium(
    world: World, server: ConsoleServer, browser: webdriver.Chrome
) -> None:
    """kim logs in, sees h-001 and h-003 only, acknowledges and resolves h-001's alert,
    sets h-001 away, and finds it all in the audit trail and in the store."""
    # a form post reloads the page: an element found just before can go stale; look again
    wait = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
    browser.get(server.url + "/")
    assert browser.current_url.endswith("/login")
    browser.find_element(By.ID, "username").send_keys("kim")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["kim"])
    browser.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: d.find_elements(By.ID, "households"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.household")
    assert [r.get_attribute("data-household") for r in rows] == ["h-001", "h-003"]
    assert [r.get_attribute("data-status") for r in rows] == ["critical", "ok"]
    assert "h-002" not in browser.page_source
    _shot(browser, "01-households.png")

    browser.find_element(By.LINK_TEXT, "h-001").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.alert"))
    _shot(browser, "02-household-alert.png")
    article = browser.find_element(By.CSS_SELECTOR, "article.alert")
    assert article.get_attribute("data-state") == "open"
    assert "no activity for 24h" in article.find_element(By.CLASS_NAME, "observed").text

    article.find_element(By.CSS_SELECTOR, "form.ack input[name=note]").send_keys("전화 안 받음")
    article.find_element(By.CLASS_NAME, "ack-button").click()
    wait.until(lambda d: d.find_elements(By.ID, "flash-ok"))
    article = browser.find_element(By.CSS_SELECTOR, "article.alert")
    assert article.get_attribute("data-state") == "acknowledged"

    world.clock.advance(1800)
    Select(article.find_element(By.CLASS_NAME, "outcome")).select_by_value("visited_ok")
    article.find_element(By.CLASS_NAME, "resolve-note").send_keys("방문함, 감기로 누워 계심")
    article.find_element(By.CLASS_NAME, "resolve-button").click()
    wait.until(lambda d: d.find_elements(By.ID, "no-open-alerts"))

    world.clock.advance(600)
    browser.find_element(By.ID, "away-note").send_keys("병원 입원 (1주)")
    browser.find_element(By.ID, "set-away").click()
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-status") == "away")
    actions = [
        r.get_attribute("data-action")
        for r in browser.find_elements(By.CSS_SELECTOR, "tr.audit-row")
    ]
    assert actions == ["away_set", "resolved", "acknowledged", "raised"]
    assert browser.find_elements(By.CSS_SELECTOR, "li.away-period[data-active='1']")
    _shot(browser, "03-household-away.png")

    alert = world.store.get_alert(world.alerts["h-001"].id)
    assert alert is not None
    assert (alert.state, alert.outcome, alert.resolved_by) == (
        AlertState.RESOLVED,
        Outcome.VISITED_OK,
        "kim",
    )
    notes = [e.note for e in world.store.audit(alert.id)]
    assert notes[1:] == ["전화 안 받음", "방문함, 감기로 누워 계심"]
    away = world.store.list_away(HouseholdId("h-001"), active_at=world.clock.now())
    assert [(p.created_by, p.note) for p in away] == [("kim", "병원 입원 (1주)")]

    browser.get(server.url + "/households/h-002")
    assert "404" in browser.find_element(By.TAG_NAME, "h1").text
    other = world.store.get_alert(world.alerts["h-002"].id)
    assert other is not None and other.state is AlertState.OPEN


def test_the_third_alarm_resolved_fine_asks_for_a_set_up_review_in_chromium(
    world: World, server: ConsoleServer, browser: webdriver.Chrome
) -> None:
    """h-001 had two alarms this month that found the resident fine; when kim resolves the
    open one as "resident OK" too, its page asks to review the plug, tier and away periods."""
    wait = WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException])
    now = world.clock.now()
    for n, days_ago in enumerate((6, 13)):
        raised = now - days_ago * 86400.0
        store_past_alarm(world.store, f"past-{n}", "h-001", raised, Outcome.RESIDENT_OK, by="kim")
    browser.get(server.url + "/login")
    browser.find_element(By.ID, "username").send_keys("kim")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["kim"])
    browser.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: d.find_elements(By.ID, "households"))
    browser.get(server.url + "/households/h-001")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.alert"))
    assert not browser.find_elements(By.ID, "false-alarms")  # two of the open three: not yet
    article = browser.find_element(By.CSS_SELECTOR, "article.alert")
    Select(article.find_element(By.CLASS_NAME, "outcome")).select_by_value("resident_ok")
    article.find_element(By.CLASS_NAME, "resolve-button").click()
    wait.until(lambda d: d.find_elements(By.ID, "no-open-alerts"))
    notice = browser.find_element(By.ID, "false-alarms")
    assert notice.is_displayed()
    assert "3 / 3" in notice.text and "두 번째 플러그" in notice.text
    _shot(browser, "04-household-false-alarms.png")
