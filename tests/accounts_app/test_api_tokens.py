"""Personal API tokens: shown once, stored hashed, scoped, revocable, expiring."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts_app.models import ApiToken
from tests.conftest import create_task

TOKENS = "/api/v1/auth/api-tokens/"


def create_token(api: APIClient, **fields: Any) -> dict[str, Any]:
    response = api.post(
        TOKENS, {"name": "assistant", "scopes": "read write", **fields}, format="json"
    )
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_creating_a_token_shows_the_secret_once_and_stores_only_its_hash(api: APIClient) -> None:
    created = create_token(api)

    secret = created["token"]
    assert secret.startswith("todo_pat_") and len(secret) > 40
    assert created["prefix"] == secret[: len(created["prefix"])]
    assert created["scopes"] == ["read", "write"]
    row = ApiToken.objects.get(pk=created["id"])
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {row.token_hash, row.prefix, row.name}
    listed = api.get(TOKENS).json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0] and secret not in str(listed)


def test_a_token_works_as_a_bearer_on_the_rest_api(api: APIClient) -> None:
    secret = create_token(api)["token"]
    client = bearer(secret)

    made = create_task(client, title="From a script")

    assert [t["id"] for t in client.get("/api/v1/tasks/").json()["results"]] == [made["id"]]
    assert ApiToken.objects.get().last_used_at is not None


def test_a_read_token_can_read_but_a_write_is_forbidden(api: APIClient) -> None:
    task = create_task(api, title="Mine")
    client = bearer(create_token(api, scopes="read")["token"])

    assert client.get(f"/api/v1/tasks/{task['id']}/").status_code == 200
    refused = client.post("/api/v1/tasks/", {"title": "Nope"}, format="json")
    assert refused.status_code == 403
    assert "write" in refused.json()["detail"]
    assert client.delete(f"/api/v1/tasks/{task['id']}/").status_code == 403
    assert api.get(f"/api/v1/tasks/{task['id']}/").status_code == 200


def test_scopes_may_be_given_as_a_list_and_write_implies_read(api: APIClient) -> None:
    assert create_token(api, scopes=["write"])["scopes"] == ["read", "write"]
    assert create_token(api, scopes=["read"])["scopes"] == ["read"]


def test_a_revoked_token_is_a_401(api: APIClient) -> None:
    created = create_token(api)
    client = bearer(created["token"])
    assert client.get("/api/v1/tasks/").status_code == 200

    assert api.delete(f"{TOKENS}{created['id']}/").status_code == 204

    response = client.get("/api/v1/tasks/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get(TOKENS).json() == []
    assert api.delete(f"{TOKENS}{created['id']}/").status_code == 404


def test_an_expired_token_is_a_401(api: APIClient) -> None:
    expires = timezone.now() + timedelta(days=1)
    client = bearer(create_token(api, expires_at=expires.isoformat())["token"])
    assert client.get("/api/v1/tasks/").status_code == 200

    with time_machine.travel(expires + timedelta(seconds=1)):
        assert client.get("/api/v1/tasks/").status_code == 401


def test_an_unknown_token_is_a_401_and_jwts_still_work(api: APIClient) -> None:
    assert bearer("todo_pat_not-a-real-one").get("/api/v1/tasks/").status_code == 401
    assert api.get("/api/v1/tasks/").status_code == 200


def test_a_personal_token_cannot_manage_tokens(api: APIClient) -> None:
    client = bearer(create_token(api)["token"])

    assert client.post(TOKENS, {"name": "x", "scopes": "read"}, format="json").status_code == 403
    assert client.get(TOKENS).status_code == 403


def test_bad_input_gets_a_message_per_field(api: APIClient) -> None:
    response = api.post(
        TOKENS,
        {"name": "", "scopes": "admin", "expires_at": "2001-01-01T00:00:00Z", "token": "x"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"name", "scopes", "token"}  # every field's problem; "token" is read-only
    response = api.post(
        TOKENS,
        {"name": "ok", "scopes": "admin", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert "Unknown scope 'admin'" in response.json()["scopes"][0]
    response = api.post(
        TOKENS,
        {"name": "ok", "scopes": "read", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.json() == {"expires_at": ["The expiry must be in the future."]}
    assert not ApiToken.objects.exists()


def test_another_users_token_is_a_404(api: APIClient, outsider_api: APIClient) -> None:
    created = create_token(api)

    assert outsider_api.delete(f"{TOKENS}{created['id']}/").status_code == 404
    assert outsider_api.get(TOKENS).json() == []
    assert bearer(created["token"]).get("/api/v1/tasks/").status_code == 200


def test_the_admin_shows_tokens_but_never_their_secret(api: APIClient, owner: User) -> None:
    created = create_token(api)
    row = ApiToken.objects.get(pk=created["id"])
    staff = User.objects.create_superuser("root", "root@example.com", "a-long-passphrase-42")
    browser = Client()
    browser.force_login(staff)

    listing = browser.get("/admin/accounts_app/apitoken/")
    detail = browser.get(f"/admin/accounts_app/apitoken/{row.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    for page in (listing.content.decode(), detail.content.decode()):
        assert row.prefix in page
        assert created["token"] not in page and row.token_hash not in page
    assert browser.get("/admin/accounts_app/apitoken/add/").status_code == 403


def test_the_admin_revoke_action_stops_the_token(api: APIClient) -> None:
    created = create_token(api)
    staff = User.objects.create_superuser("root", "root@example.com", "a-long-passphrase-42")
    browser = Client()
    browser.force_login(staff)

    response = browser.post(
        "/admin/accounts_app/apitoken/",
        {"action": "revoke", "_selected_action": [created["id"]]},
    )

    assert response.status_code == 302
    assert bearer(created["token"]).get("/api/v1/tasks/").status_code == 401
