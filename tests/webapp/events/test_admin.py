"""The event tables in the admin: read-only lists, and a replay action for dead letters."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from tests.webapp.events.conftest import Register, emit_test_event
from webapp.events.models import DeadLetter
from webapp.events.registry import Envelope


@pytest.fixture
def staff_client() -> Client:
    admin = User.objects.create_superuser("root", "root@example.com", "a-long-passphrase-42")
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", ["outboxevent", "deadletter", "parkeddelivery", "processedevent"])
def test_event_tables_list_in_the_admin_without_add_or_delete(
    staff_client: Client, owner: User, model: str
) -> None:
    emit_test_event(owner)

    listing = staff_client.get(f"/admin/events/{model}/")
    add = staff_client.get(f"/admin/events/{model}/add/")

    assert listing.status_code == 200
    assert add.status_code == 403


def test_outbox_admin_filters_pending_and_searches_by_subject(
    staff_client: Client, owner: User
) -> None:
    row = emit_test_event(owner)

    published = staff_client.get("/admin/events/outboxevent/", {"published": "yes"})
    pending = staff_client.get("/admin/events/outboxevent/", {"published": "no"})
    searched = staff_client.get("/admin/events/outboxevent/", {"q": row.subject})

    assert row.subject in published.content.decode()
    assert row.subject not in pending.content.decode()
    assert row.subject in searched.content.decode()


def test_dead_letter_admin_action_replays_the_selected_letters(
    staff_client: Client, owner: User, register_subscriber: Register
) -> None:
    broken = True

    def handler(envelope: Envelope) -> None:
        if broken:
            raise RuntimeError("down")

    register_subscriber(handler, consumer="tests.admin")
    with override_settings(EVENT_RETRY_ATTEMPTS=0):
        emit_test_event(owner)
    letter = DeadLetter.objects.get()
    broken = False

    response = staff_client.post(
        "/admin/events/deadletter/",
        {"action": "replay", "_selected_action": [str(letter.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 dead letter(s) replayed." in response.content.decode()
    letter.refresh_from_db()
    assert letter.replayed_at is not None
