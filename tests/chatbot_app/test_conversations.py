"""Conversation memory: the REST endpoints, and the state port on a table and on Dapr."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from chatbot_app.models import StateEntry
from chatbot_app.services import MAX_BYTES, MAX_MESSAGES, conversation_key
from chatbot_app.state import DaprStatePort, StateUnavailable, TableStatePort
from tests.chatbot_app.conftest import token_for
from tests.fakes.dapr_sidecar import FakeDaprSidecar

URL = "/api/v1/conversations/{}/"
MESSAGES = [
    {"role": "system", "content": "You manage the user's tasks."},
    {"role": "user", "content": "Remind me to pay rent on the 1st, a day before."},
    {"role": "assistant", "content": "Done: monthly on the 1st, reminder a day before."},
]


def put(api: APIClient, conversation: str, messages: list[dict[str, Any]]) -> Any:
    return api.put(URL.format(conversation), {"messages": messages}, format="json")


def test_a_conversation_is_saved_and_read_back(api: APIClient, owner: User) -> None:
    saved = put(api, "kitchen-chat", MESSAGES)
    read = api.get(URL.format("kitchen-chat"))

    assert saved.status_code == 200 and read.status_code == 200
    assert read.json()["messages"] == MESSAGES and read.json()["id"] == "kitchen-chat"
    assert read.json()["updated_at"] == saved.json()["updated_at"]
    entry = StateEntry.objects.get()
    assert entry.key == f"conversation:{owner.pk}:kitchen-chat"


def test_put_replaces_the_messages_and_delete_forgets_them(api: APIClient) -> None:
    put(api, "c1", MESSAGES)

    put(api, "c1", MESSAGES[:1])
    assert api.get(URL.format("c1")).json()["messages"] == MESSAGES[:1]
    assert api.delete(URL.format("c1")).status_code == 204
    assert api.get(URL.format("c1")).status_code == 404


def test_a_missing_conversation_is_a_404(api: APIClient) -> None:
    assert api.get(URL.format("never-saved")).json() == {"detail": "No such conversation."}


def test_conversations_are_per_user(api: APIClient, outsider_api: APIClient) -> None:
    put(api, "shared-name", MESSAGES)
    put(outsider_api, "shared-name", MESSAGES[:1])

    assert api.get(URL.format("shared-name")).json()["messages"] == MESSAGES
    assert outsider_api.get(URL.format("shared-name")).json()["messages"] == MESSAGES[:1]
    assert StateEntry.objects.count() == 2


def test_bad_messages_are_refused_with_a_message_per_field(api: APIClient) -> None:
    bad_role = put(api, "c", [{"role": "robot", "content": "hi"}])
    extra = put(api, "c", [{"role": "user", "content": "hi", "name": "x"}])
    too_many = put(api, "c", [{"role": "user", "content": "hi"}] * (MAX_MESSAGES + 1))
    too_big = put(api, "c", [{"role": "user", "content": "x" * (MAX_BYTES + 1)}])
    unknown = api.put(URL.format("c"), {"messages": [], "title": "x"}, format="json")

    assert bad_role.status_code == 400 and "role" in bad_role.json()["messages"]["0"]
    assert extra.json()["messages"]["0"] == {"name": ["Unknown field."]}
    assert too_many.status_code == 400 and "messages" in too_many.json()
    assert too_big.status_code == 400 and "bytes" in too_big.json()["messages"][0]
    assert unknown.json() == {"title": ["Unknown field."]}
    assert not StateEntry.objects.exists()


def test_a_read_only_token_may_read_but_not_write_a_conversation(
    api: APIClient, owner: User
) -> None:
    put(api, "c", MESSAGES)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(owner, 'read')}")

    assert reader.get(URL.format("c")).status_code == 200
    assert put(reader, "c", []).status_code == 403


def test_the_table_port_round_trips_json() -> None:
    port = TableStatePort()

    port.save("k", {"messages": [{"role": "user", "content": "é"}]})
    assert port.get("k") == {"messages": [{"role": "user", "content": "é"}]}
    port.delete("k")
    assert port.get("k") is None
    port.delete("k")  # a missing key is not an error


def test_the_dapr_port_saves_and_reads_through_the_sidecar(dapr_sidecar: FakeDaprSidecar) -> None:
    port = DaprStatePort("statestore")
    value = {"messages": MESSAGES}

    assert port.get("conversation:1:c") is None
    port.save("conversation:1:c", value)

    saved = dapr_sidecar.calls_of("SaveState")[0]
    assert saved.store_name == "statestore"
    assert saved.states[0].key == "conversation:1:c"
    assert saved.states[0].metadata["contentType"] == "application/json"
    assert json.loads(dapr_sidecar.state["statestore"]["conversation:1:c"]) == value
    assert port.get("conversation:1:c") == value
    port.delete("conversation:1:c")
    assert port.get("conversation:1:c") is None


def test_a_failing_sidecar_is_state_unavailable_and_the_port_recovers(
    dapr_sidecar: FakeDaprSidecar,
) -> None:
    port = DaprStatePort("statestore")
    dapr_sidecar.fail_next("SaveState", code=grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(StateUnavailable):
        port.save("k", {"messages": []})
    port.save("k", {"messages": []})

    assert port.get("k") == {"messages": []}


def test_with_dapr_the_api_keeps_conversations_in_the_state_store_only(
    api: APIClient, owner: User, dapr_sidecar: FakeDaprSidecar, settings: Any
) -> None:
    settings.EVENT_RUNTIME = "dapr"
    settings.DAPR_STATE_STORE = "statestore"

    saved = put(api, "c", MESSAGES)
    read = api.get(URL.format("c"))
    dapr_sidecar.fail_next("GetState")
    unavailable = api.get(URL.format("c"))

    assert saved.status_code == 200 and read.json()["messages"] == MESSAGES
    key = conversation_key(user_id=owner.pk, conversation_id="c")
    assert json.loads(dapr_sidecar.state["statestore"][key])["messages"] == MESSAGES
    assert not StateEntry.objects.exists()
    assert unavailable.status_code == 503
