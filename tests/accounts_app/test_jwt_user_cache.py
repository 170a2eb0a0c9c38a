"""The JWT's user is read once every few seconds, and a deactivation still takes effect."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts_app.authentication import recent_users
from tests.conftest import client_for


def _user_reads(queries: CaptureQueriesContext) -> int:
    return sum('FROM "auth_user"' in query["sql"] for query in queries.captured_queries)


def test_a_second_request_reuses_the_users_row(owner: User) -> None:
    api = client_for(owner)
    assert api.get("/api/v1/tasks/").status_code == 200

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/tasks/")

    assert response.status_code == 200 and _user_reads(queries) == 0


def test_a_deactivated_user_is_refused_at_once_by_the_process_that_saved_it(owner: User) -> None:
    api = client_for(owner)
    assert api.get("/api/v1/tasks/").status_code == 200

    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert api.get("/api/v1/tasks/").status_code == 401


def test_a_change_made_elsewhere_is_seen_once_the_cache_lapses(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = client_for(owner)
    assert api.get("/api/v1/tasks/").status_code == 200
    # As another process would: no signal reaches this one.
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert api.get("/api/v1/tasks/").status_code == 200  # still within the cache's seconds

    later = recent_users.clock() + settings.JWT_USER_CACHE_SECONDS + 1
    monkeypatch.setattr(recent_users, "clock", lambda: later)

    assert api.get("/api/v1/tasks/").status_code == 401


def test_with_no_cache_every_request_reads_the_user(owner: User, settings: Any) -> None:
    settings.JWT_USER_CACHE_SECONDS = 0
    api: APIClient = client_for(owner)
    api.get("/api/v1/tasks/")

    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/tasks/")

    assert _user_reads(queries) == 1
