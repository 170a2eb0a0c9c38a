"""Deeply nested JSON bodies are refused with a 400, not a RecursionError (500)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from webapp.api.parsers import MAX_JSON_DEPTH


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("body", [nested(3000), deep_object(3000), nested(MAX_JSON_DEPTH + 1)])
def test_deeply_nested_body_on_register_is_a_400(anon: APIClient, body: str) -> None:
    response = anon.generic("POST", "/api/v1/auth/register/", body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"detail"}


def test_deeply_nested_body_on_an_authenticated_endpoint_is_a_400(api: APIClient) -> None:
    response = api.generic(
        "POST", "/api/v1/tasks/", deep_object(3000), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert "detail" in response.json()


def test_nesting_up_to_the_limit_is_parsed(api: APIClient) -> None:
    # Brackets inside strings are text, not nesting.
    body = '{"title": "' + "[" * 5000 + '", "tags": ' + nested(MAX_JSON_DEPTH - 1) + "}"

    response = api.generic("POST", "/api/v1/tasks/", body, content_type="application/json")

    # Parsed (so reaching validation, which rejects the nested tags), not refused as too deep.
    assert response.status_code == 400
    assert "tags" in response.json()
