"""Rate limits: per user on the API, per client address on the auth endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings
from rest_framework.test import APIClient

from tests.conftest import client_for
from webapp.ratelimit.models import RateCounter


@pytest.fixture
def low_rates() -> Iterator[None]:
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/min", "auth": "2/min"}}
    with override_settings(REST_FRAMEWORK=rest):
        yield


def register(client: APIClient, name: str, **extra: Any) -> Any:
    body = {"username": name, "email": f"{name}@example.com", "password": "a-long-passphrase-42"}
    return client.post("/api/v1/auth/register/", body, format="json", **extra)


@pytest.mark.usefixtures("low_rates")
def test_the_api_answers_429_with_retry_after_once_a_user_is_over_the_rate(
    api: APIClient, outsider_api: APIClient
) -> None:
    statuses = [api.get("/api/v1/tasks/").status_code for _ in range(3)]
    throttled = api.get("/api/v1/tasks/")

    assert statuses == [200, 200, 200]
    assert throttled.status_code == 429
    # A sliding window: this minute's requests still weigh on the next one while they decay.
    assert 0 < int(throttled["Retry-After"]) <= 120
    assert "throttled" in throttled.json()["detail"]
    # Another user has a budget of their own.
    assert outsider_api.get("/api/v1/tasks/").status_code == 200


@pytest.mark.usefixtures("low_rates")
def test_the_user_limit_follows_the_user_across_clients(owner: User) -> None:
    for _ in range(3):
        assert client_for(owner).get("/api/v1/tasks/").status_code == 200

    assert client_for(owner).get("/api/v1/tasks/").status_code == 429


@pytest.mark.usefixtures("low_rates")
def test_auth_endpoints_are_limited_per_client_address(anon: APIClient, owner: User) -> None:
    assert register(anon, "one").status_code == 201
    wrong = {"username": "olivia", "password": "guess"}
    assert anon.post("/api/v1/auth/token/", wrong, format="json").status_code == 401

    blocked = anon.post("/api/v1/auth/token/", wrong, format="json")
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert register(anon, "two").status_code == 429

    elsewhere = register(anon, "three", REMOTE_ADDR="10.0.0.9")
    assert elsewhere.status_code == 201


@pytest.mark.usefixtures("low_rates")
def test_a_forged_forwarded_for_header_does_not_reset_the_auth_limit(anon: APIClient) -> None:
    for i in range(2):
        assert register(anon, f"user{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 201

    response = register(anon, "user9", HTTP_X_FORWARDED_FOR="203.0.113.99")

    assert response.status_code == 429


def test_default_rates_come_from_settings() -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == {"user": settings.API_THROTTLE_USER, "auth": settings.API_THROTTLE_AUTH}


def test_a_limit_turned_off_counts_nothing(api: APIClient, owner: User) -> None:
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "off", "auth": "off"}}
    with override_settings(REST_FRAMEWORK=rest):
        statuses = {api.get("/api/v1/tasks/").status_code for _ in range(5)}

    assert statuses == {200}
    assert not RateCounter.objects.exists()
