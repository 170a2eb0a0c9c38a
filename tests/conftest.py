"""Shared fixtures: real PostgreSQL, committed transactions, named users, API clients."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts_app.authentication import recent_users
from webapp.events.runtime import get_runtime, set_runtime
from webapp.events.runtimes.inline import InlineRuntime

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(autouse=True)
def _committed_db(transactional_db: None) -> None:
    """Every test commits for real, so on-commit delivery runs as in production."""


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    cache.clear()  # throttling counters
    recent_users.clear()  # users the JWT authentication read recently
    set_runtime(InlineRuntime())
    yield
    set_runtime(None)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2 at production strength costs ~0.5 s per user; tests check logic, not hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def inline_runtime() -> InlineRuntime:
    runtime = get_runtime()
    assert isinstance(runtime, InlineRuntime)
    return runtime


def make_user(username: str) -> User:
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", password="a-long-passphrase-42"
    )


@pytest.fixture
def owner() -> User:
    return make_user("olivia")


@pytest.fixture
def outsider() -> User:
    return make_user("oscar")


@pytest.fixture
def staff() -> Client:
    """A logged-in superuser's browser session, for the admin."""
    user = make_user("sam")
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(user)
    return client


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def api(owner: User) -> APIClient:
    return client_for(owner)


@pytest.fixture
def outsider_api(outsider: User) -> APIClient:
    return client_for(outsider)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def create_task(api: APIClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/tasks/", {"title": "A task", **fields}, format="json")
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """For tests with real threads: poll `condition` until it holds, failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
