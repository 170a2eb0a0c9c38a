"""The web app in a real browser (headless Chromium) against a real `manage.py serve`: the
event runtime, the workers' handlers and the event stream all run as in production.

Waits poll the browser for a bounded time; the one timing claim (another session shows a
change within a second) is the issue's requirement, measured from the moment the first
session's request has been answered.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.dashboard_app.conftest import PHONE, Browsers, register_user

pytestmark = pytest.mark.slow
WAIT = 10.0  # seconds a step may take on a loaded machine before the test fails


def wait(driver: Any, timeout: float = WAIT) -> WebDriverWait[Any]:
    # htmx replaces fragments while a condition reads them: a stale element means "look again".
    return WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    )


def css(driver: Any, selector: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, selector)


def set_value(driver: Any, selector: str, value: str) -> None:
    """Set a date or time input as a user picking a value would (typing into a
    `datetime-local` depends on the browser's locale), firing the events htmx listens to."""
    driver.execute_script(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1];"
        "el.dispatchEvent(new Event('input', {bubbles: true}));"
        "el.dispatchEvent(new Event('change', {bubbles: true}));",
        selector,
        value,
    )


def log_in(driver: Any, base: str, username: str, password: str) -> None:
    driver.get(f"{base}/app/login/")
    css(driver, "#id_username").send_keys(username)
    css(driver, "#id_password").send_keys(password + Keys.ENTER)
    wait(driver).until(ec.url_to_be(f"{base}/app/"))


def wait_live(driver: Any) -> None:
    """Until the page's event stream is open (its status reads "live")."""
    wait(driver).until(
        lambda d: css(d, "#live-status").get_attribute("data-state") == "live",
        "the page's event stream did not open",
    )


def titles(driver: Any) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#results .task .title")]


def local_input(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def create_task(driver: Any, base: str, *, title: str, tags: str = "", due: str = "") -> None:
    driver.get(f"{base}/app/tasks/new/")
    css(driver, "#id_title").send_keys(title)
    if tags:
        css(driver, "#id_tags").send_keys(tags)
    if due:
        set_value(driver, "#id_due_at", due)
    css(driver, "form.card button[type=submit]").click()
    wait(driver).until(ec.url_matches(r"/app/tasks/[0-9a-f-]{36}/$"))


def test_register_create_a_tagged_task_and_find_it_by_search_and_filter(
    browsers: Browsers,
) -> None:
    base = browsers.base
    driver = browsers.open()
    driver.get(f"{base}/app/register/")
    css(driver, "#id_username").send_keys("ada")
    css(driver, "#id_email").send_keys("ada@example.com")
    css(driver, "#id_password").send_keys("12345678" + Keys.ENTER)
    assert "This password is entirely numeric." in wait(driver).until(
        lambda d: css(d, ".errorlist").text
    )
    css(driver, "#id_password").send_keys("correct-horse-battery" + Keys.ENTER)
    wait(driver).until(ec.url_to_be(f"{base}/app/"))

    due = datetime.now(UTC) + timedelta(days=3)
    create_task(driver, base, title="Pay rent", tags="home, bills", due=local_input(due))
    create_task(driver, base, title="Water the plants", tags="garden")
    summary = css(driver, "#summary").text
    assert "#garden" in summary

    driver.get(f"{base}/app/")
    assert sorted(titles(driver)) == ["Pay rent", "Water the plants"]
    row = css(driver, "#results .task")
    assert "#home" in row.text and "#bills" in row.text and "medium" in row.text

    # Typing in the search box narrows the list in place (htmx), no submit needed.
    marker = driver.execute_script("return window.__page = Math.random()")
    css(driver, "#id_search").send_keys("rent")
    wait(driver).until(lambda d: titles(d) == ["Pay rent"])
    assert driver.execute_script("return window.__page") == marker, "the page was reloaded"
    assert "search=rent" in driver.current_url  # the filtered list has its own address

    css(driver, "#id_search").clear()
    css(driver, "details.more summary").click()  # the filters fold away on a small screen
    css(driver, "#id_tags").send_keys("garden" + Keys.ENTER)
    wait(driver).until(lambda d: titles(d) == ["Water the plants"])
    css(driver, "#id_overdue").click()
    wait(driver).until(lambda d: titles(d) == [])


def test_weekly_recurrence_preview_then_completing_brings_the_next_instance(
    browsers: Browsers,
) -> None:
    base = browsers.base
    password = register_user(base, "ben")
    driver = browsers.open()
    log_in(driver, base, "ben", password)

    driver.get(f"{base}/app/tasks/new/")
    css(driver, "#id_title").send_keys("Standup")
    # Next Monday 10:00 UTC (the user's zone): the first occurrence is the due date.
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday())
    set_value(driver, "#id_due_at", f"{monday.isoformat()}T10:00")
    Select(css(driver, "#id_r-repeat")).select_by_value("WEEKLY")
    for day in ("MO", "WE"):
        css(driver, f"input[name='r-weekdays'][value='{day}']").click()
    preview = wait(driver).until(
        lambda d: "BYDAY=MO,WE" in css(d, "#preview").text and css(d, "#preview")
    )
    moments = [e.get_attribute("datetime") for e in preview.find_elements(By.CSS_SELECTOR, "time")]
    wednesday = monday + timedelta(days=2)
    assert moments[:3] == [
        f"{monday.isoformat()}T10:00:00+00:00",
        f"{wednesday.isoformat()}T10:00:00+00:00",
        f"{(monday + timedelta(days=7)).isoformat()}T10:00:00+00:00",
    ]
    css(driver, "form.card button[type=submit]").click()
    wait(driver).until(ec.url_matches(r"/app/tasks/[0-9a-f-]{36}/$"))
    assert "FREQ=WEEKLY;BYDAY=MO,WE" in css(driver, "#summary").text

    driver.get(f"{base}/app/?status=pending")
    wait_live(driver)
    css(driver, "#results .task .tick").click()
    # The recurrence worker creates Wednesday's instance after the completion; it shows up
    # on the list from the event stream if it was not there yet when the page came back.
    wait(driver).until(
        lambda d: (
            wednesday.strftime("%a %-d %b %Y")
            in " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, "#results .task"))
        )
    )
    assert titles(driver) == ["Standup"]


def test_a_reminder_arrives_in_the_notifications_feed_and_the_unread_count_live(
    browsers: Browsers,
) -> None:
    base = browsers.base
    password = register_user(base, "cleo")
    driver = browsers.open()
    log_in(driver, base, "cleo", password)
    create_task(
        driver,
        base,
        title="Call the bank",
        due=local_input(datetime.now(UTC) + timedelta(hours=2)),
    )
    Select(css(driver, "#id_rem-kind")).select_by_value("at")
    soon = datetime.now(UTC) + timedelta(seconds=6)
    set_value(driver, "#id_rem-at", soon.strftime("%Y-%m-%dT%H:%M:%S"))
    css(driver, "input[name='rem-channels'][value='in_app']").click()
    css(driver, "#id_rem-at").submit()
    wait(driver).until(lambda d: "scheduled" in css(d, "#summary .reminders").text)

    driver.get(f"{base}/app/notifications/")
    wait_live(driver)
    assert css(driver, "#unread").text == "0"
    # No reload: the entry and the count arrive from the stream when the reminder fires.
    entry = wait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#feed .note .title"))
    assert entry[0].text.startswith("Call the bank") or "Call the bank" in entry[0].text
    wait(driver).until(lambda d: css(d, "#unread").text == "1")
    css(driver, "main form button[type=submit]").click()  # mark all read
    wait(driver).until(lambda d: css(d, "#unread").text == "0")


def test_two_sessions_of_one_user_show_each_others_changes_within_a_second(
    browsers: Browsers,
) -> None:
    base = browsers.base
    password = register_user(base, "dan")
    desk, phone = browsers.open(), browsers.open(PHONE)
    for driver in (desk, phone):
        log_in(driver, base, "dan", password)
    phone.get(f"{base}/app/?status=pending")
    wait_live(phone)
    marker = phone.execute_script("return window.__page = Math.random()")

    create_task(desk, base, title="Buy milk", tags="errand")
    answered = time.monotonic()
    wait(phone, 1.0).until(lambda d: titles(d) == ["Buy milk"], "not shown within a second")
    shown_after = time.monotonic() - answered
    assert phone.execute_script("return window.__page") == marker, "the page was reloaded"

    desk.get(f"{base}/app/")
    wait_live(desk)
    phone.find_element(By.CSS_SELECTOR, "#results .task .tick").click()
    answered = time.monotonic()
    wait(desk, 1.0).until(
        lambda d: "done" in (css(d, "#results .task").get_attribute("class") or ""),
        "the completion was not shown within a second",
    )
    print(f"\nshown on the other session after {shown_after:.3f} s and "  # noqa: T201
          f"{time.monotonic() - answered:.3f} s")  # fmt: skip
