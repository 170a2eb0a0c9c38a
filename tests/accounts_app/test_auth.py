"""Registration, JWT pairs, expiry and refresh rotation with blacklisting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import make_user

PASSWORD = "a-long-passphrase-42"


def register(anon: APIClient, **fields: Any) -> Any:
    body = {"username": "grace", "email": "grace@example.com", "password": PASSWORD, **fields}
    return anon.post("/api/v1/auth/register/", body, format="json")


def token_pair(anon: APIClient, username: str = "olivia") -> dict[str, str]:
    response = anon.post(
        "/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    pair: dict[str, str] = response.json()
    return pair


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_register_creates_a_user_that_can_log_in(anon: APIClient) -> None:
    response = register(anon)

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "grace" and body["email"] == "grace@example.com"
    assert "password" not in body
    user = User.objects.get(username="grace")
    assert user.check_password(PASSWORD) and user.pk == body["id"]
    assert token_pair(anon, "grace")["access"]


def test_register_rejects_a_taken_username_whatever_its_case(anon: APIClient) -> None:
    make_user("grace")

    response = register(anon, username="Grace", email="other@example.com")

    assert response.status_code == 409
    assert "already exists" in response.json()["username"][0]
    assert User.objects.count() == 1


def test_register_rejects_a_taken_email(anon: APIClient) -> None:
    make_user("ada")

    response = register(anon, email="ADA@example.com")

    assert response.status_code == 409 and response.json()["email"]


def test_register_rejects_weak_passwords_with_reasons(anon: APIClient) -> None:
    for password, reason in [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83749201847", "entirely numeric"),
        ("grace@example", "too similar"),
    ]:
        response = register(anon, password=password)
        assert response.status_code == 400, password
        assert reason in " ".join(response.json()["password"]), response.json()
    assert not User.objects.exists()


def test_register_rejects_unknown_fields_and_bad_values(anon: APIClient) -> None:
    assert register(anon, is_staff=True).json() == {"is_staff": ["Unknown field."]}
    assert "email" in register(anon, email="not-an-email").json()
    assert "username" in register(anon, username="no spaces").json()
    assert not User.objects.exists()


def test_token_pair_grants_access_to_the_api(anon: APIClient, owner: User) -> None:
    pair = token_pair(anon)

    assert set(pair) == {"access", "refresh"}
    assert bearer(pair["access"]).get("/api/v1/tasks/").status_code == 200


def test_wrong_password_gets_no_token(anon: APIClient, owner: User) -> None:
    response = anon.post(
        "/api/v1/auth/token/", {"username": "olivia", "password": "wrong"}, format="json"
    )

    assert response.status_code == 401


def test_an_access_token_expires_after_an_hour(anon: APIClient, owner: User) -> None:
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client = bearer(token_pair(anon)["access"])
        traveller.shift(timedelta(minutes=59))
        assert client.get("/api/v1/tasks/").status_code == 200

        traveller.shift(timedelta(minutes=2))
        response = client.get("/api/v1/tasks/")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_refresh_rotates_and_the_old_refresh_token_is_blacklisted(
    anon: APIClient, owner: User
) -> None:
    pair = token_pair(anon)

    rotated = anon.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")

    assert rotated.status_code == 200
    fresh = rotated.json()
    assert fresh["refresh"] != pair["refresh"] and fresh["access"] != pair["access"]
    assert bearer(fresh["access"]).get("/api/v1/tasks/").status_code == 200

    replay = anon.post("/api/v1/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert replay.status_code == 401
    assert "blacklisted" in replay.json()["detail"]

    again = anon.post("/api/v1/auth/token/refresh/", {"refresh": fresh["refresh"]}, format="json")
    assert again.status_code == 200


def test_an_access_token_cannot_be_used_as_a_refresh_token(anon: APIClient, owner: User) -> None:
    pair = token_pair(anon)

    response = anon.post("/api/v1/auth/token/refresh/", {"refresh": pair["access"]}, format="json")

    assert response.status_code == 401
