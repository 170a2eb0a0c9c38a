"""Logins lock out after repeated wrong passwords (django-axes), per username and address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from tests.conftest import make_user

PASSWORD = "a-long-passphrase-42"
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_staff(username: str) -> User:
    user = make_user(username)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


def admin_login(client: Client, username: str, password: str) -> int:
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return response.status_code


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def sam() -> User:
    return make_staff("sam")


@pytest.mark.usefixtures("sam")
def test_the_right_password_is_refused_after_five_wrong_ones() -> None:
    browser = Client()
    with time_machine.travel(NOON, tick=False):
        statuses = [admin_login(browser, "sam", f"guess-{i}") for i in range(6)]
        refused = browser.post("/admin/login/", {"username": "sam", "password": PASSWORD})

    # Four wrong answers get the form again; the fifth locks, and so does all that follows.
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 15 * 60
    page = refused.content.decode()
    assert "Too many failed logins" in page and "12:15 UTC" in page
    assert not logged_in(browser)


def test_the_lockout_is_for_that_username_from_that_address(sam: User) -> None:
    make_staff("ana")
    with time_machine.travel(NOON, tick=False):
        for i in range(5):
            admin_login(Client(), "sam", f"guess-{i}")

        # Another member of staff at the same address, and sam from elsewhere, log in.
        assert admin_login(Client(), "ana", PASSWORD) == 302
        elsewhere = Client(REMOTE_ADDR="198.51.100.20")
        assert admin_login(elsewhere, "sam", PASSWORD) == 302
        assert logged_in(elsewhere)
        assert admin_login(Client(), "sam", PASSWORD) == 429


@pytest.mark.usefixtures("sam")
def test_the_lockout_ends_after_the_cool_off() -> None:
    with time_machine.travel(NOON, tick=False):
        for i in range(5):
            admin_login(Client(), "sam", f"guess-{i}")
    # Refused attempts during the lockout do not extend it.
    with time_machine.travel(NOON + timedelta(minutes=14), tick=False):
        assert admin_login(Client(), "sam", PASSWORD) == 429

    browser = Client()
    with time_machine.travel(NOON + timedelta(minutes=15, seconds=1), tick=False):
        assert admin_login(browser, "sam", PASSWORD) == 302
        assert logged_in(browser)


@pytest.mark.usefixtures("sam")
def test_a_successful_login_resets_the_count() -> None:
    for i in range(4):
        admin_login(Client(), "sam", f"guess-{i}")
    assert admin_login(Client(), "sam", PASSWORD) == 302

    statuses = [admin_login(Client(), "sam", f"again-{i}") for i in range(4)]

    assert statuses == [200] * 4
    assert admin_login(Client(), "sam", PASSWORD) == 302


@pytest.mark.usefixtures("sam")
def test_a_forged_forwarded_for_header_does_not_escape_the_lockout() -> None:
    for i in range(5):
        client = Client(HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        admin_login(client, "sam", f"guess-{i}")

    assert admin_login(Client(HTTP_X_FORWARDED_FOR="203.0.113.99"), "sam", PASSWORD) == 429


@pytest.mark.usefixtures("sam")
@override_settings(AXES_FAILURE_LIMIT=2, AXES_COOLOFF_TIME=timedelta(minutes=1))
def test_the_limit_and_cool_off_come_from_settings() -> None:
    with time_machine.travel(NOON, tick=False):
        assert [admin_login(Client(), "sam", "nope") for _ in range(2)] == [200, 429]
    with time_machine.travel(NOON + timedelta(seconds=61), tick=False):
        assert admin_login(Client(), "sam", PASSWORD) == 302


def test_the_token_endpoint_answers_429_while_locked_out(owner: User) -> None:
    api = APIClient()
    wrong = {"username": owner.username, "password": "guess"}
    right = {"username": owner.username, "password": PASSWORD}
    with time_machine.travel(NOON, tick=False):
        statuses = [
            api.post("/api/v1/auth/token/", wrong, format="json").status_code for _ in range(5)
        ]
        locked = api.post("/api/v1/auth/token/", right, format="json")

    assert statuses == [401] * 5
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    assert "access" not in locked.json()


def test_logins_in_code_without_a_request_still_work(owner: User) -> None:
    """Test clients' login() authenticates without a request; no HTTP login path does."""
    assert Client().login(username=owner.username, password=PASSWORD)


def test_the_web_apps_login_form_locks_out_the_same_way(owner: User) -> None:
    browser = Client()
    form = {"username": owner.username}
    with time_machine.travel(NOON, tick=False):
        statuses = [
            browser.post("/app/login/", {**form, "password": f"guess-{i}"}).status_code
            for i in range(5)
        ]
        refused = browser.post("/app/login/", {**form, "password": PASSWORD})

    assert statuses == [200, 200, 200, 200, 429]
    assert refused.status_code == 429
    assert browser.get("/app/").status_code == 302  # still sent to the login page


def test_a_username_longer_than_any_account_is_counted_not_a_500() -> None:
    api = APIClient()
    wrong = {"username": "u" * 300, "password": "guess"}

    statuses = [api.post("/api/v1/auth/token/", wrong, format="json").status_code for _ in range(6)]

    assert statuses == [401] * 5 + [429]


@pytest.mark.usefixtures("sam")
def test_a_forwarded_hop_that_is_no_address_counts_against_the_peer(settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    statuses = [
        admin_login(Client(HTTP_X_FORWARDED_FOR=f"not-an-address-{i}"), "sam", "guess")
        for i in range(5)
    ]

    assert statuses == [200] * 4 + [429]
    assert admin_login(Client(), "sam", PASSWORD) == 429
