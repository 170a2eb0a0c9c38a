"""The web app's pages through Django's test client: the same services, rules and messages as
the API, the owner's tasks only, CSRF, the user's time zone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts_app.models import ApiToken
from notifications_app.models import Channel, Notification, NotificationSettings
from recurrence_app.models import RecurringSeries
from tasks_app.models import Status, Task
from webapp.events.runtimes.inline import InlineRuntime

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

APP = "/app/"


@pytest.fixture
def browser(owner: User) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def berlin(owner: User) -> None:
    NotificationSettings.objects.create(user=owner, timezone="Europe/Berlin")


def new_task(
    client: Client, picker: Mapping[str, str | list[str]] | None = None, **fields: str
) -> Task:
    """Create a task through the form; `picker` holds the recurrence picker's fields."""
    data = {"title": "A task", "priority": "medium", **fields, **(picker or {})}
    response = client.post(f"{APP}tasks/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].startswith(f"{APP}tasks/"), response["Location"]
    return Task.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])


def text_of(response: Response) -> str:
    return response.content.decode()


def test_every_page_asks_an_anonymous_visitor_to_log_in(client: Client) -> None:
    for path in ("", "tasks/new/", "notifications/", "settings/"):
        response = client.get(f"{APP}{path}")
        assert response.status_code == 302
        assert response["Location"].startswith(f"{APP}login/?next=")


def test_registering_logs_in_and_gives_the_apis_messages(client: Client, owner: User) -> None:
    taken = client.post(
        f"{APP}register/",
        {"username": owner.username, "email": "x@example.com", "password": "a-long-passphrase-9"},
    )
    assert taken.status_code == 400
    assert "A user with that username already exists." in text_of(taken)

    weak = client.post(
        f"{APP}register/", {"username": "nia", "email": "nia@example.com", "password": "12345678"}
    )
    assert weak.status_code == 400
    assert "This password is entirely numeric." in text_of(weak)
    assert not User.objects.filter(username="nia").exists()

    done = client.post(
        f"{APP}register/",
        {"username": "nia", "email": "nia@example.com", "password": "a-long-passphrase-42"},
    )
    assert done.status_code == 302
    assert client.get(APP).status_code == 200


def test_registering_shares_the_apis_limit_per_client_address(
    client: Client, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                   "auth": "2/minute"},
    }  # fmt: skip
    api_answer = client.post("/api/v1/auth/register/", {}, content_type="application/json")
    assert api_answer.status_code == 400
    body = {"username": "nia", "email": "nia@example.com", "password": "12345678"}
    assert client.post(f"{APP}register/", body).status_code == 400
    refused = client.post(f"{APP}register/", body)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many attempts" in text_of(refused)


def test_logging_in_and_out_uses_the_session(client: Client, owner: User) -> None:
    response = client.post(
        f"{APP}login/", {"username": owner.username, "password": "a-long-passphrase-42"}
    )
    assert response.status_code == 302 and response["Location"] == APP
    assert client.post(f"{APP}logout/").status_code == 302
    assert client.get(APP).status_code == 302


def test_a_task_is_created_with_tags_and_a_due_time_in_the_users_zone(
    browser: Client, owner: User, berlin: None
) -> None:
    task = new_task(
        browser,
        title="Pay rent",
        description="Transfer",
        priority="high",
        tags="Home, bills",
        due_at="2030-12-01T09:00",
    )
    assert task.owner == owner
    assert task.tags == ["home", "bills"]
    assert task.get_priority_display() == "high"
    assert task.due_at == datetime(2030, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Berlin (CET)
    page = text_of(browser.get(f"{APP}tasks/{task.pk}/"))
    assert 'value="2030-12-01T09:00"' in page  # shown back in Berlin time


def test_a_bad_task_shows_the_apis_message_per_field_and_writes_nothing(browser: Client) -> None:
    response = browser.post(
        f"{APP}tasks/new/",
        {"title": " ", "priority": "medium", "tags": "ok, not/valid", "due_at": "9999-01-01T00:00"},
    )
    assert response.status_code == 400
    page = text_of(response)
    assert "This field may not be blank." in page
    assert "The due date must be" in page
    assert 'aria-invalid="true"' in page
    assert not Task.objects.exists()


def test_the_list_searches_filters_sorts_and_highlights_overdue(
    browser: Client, owner: User
) -> None:
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        browser.force_login(owner)  # a session of that time
        new_task(browser, title="Pay rent", tags="home", priority="high", due_at="2030-01-05T09:00")
        new_task(browser, title="Water plants", tags="garden", priority="low")
        new_task(browser, title="Call the bank", tags="bills", priority="urgent")
    with time_machine.travel(datetime(2030, 1, 10, tzinfo=UTC), tick=False):
        browser.force_login(owner)  # a session of that time
        found = text_of(browser.get(APP, {"search": "rent"}))
        assert "Pay rent" in found and "Water plants" not in found

        by_tag = text_of(browser.get(APP, {"tags": "garden"}))
        assert "Water plants" in by_tag and "Pay rent" not in by_tag

        overdue = text_of(browser.get(APP, {"overdue": "on"}))
        assert "Pay rent" in overdue and "Call the bank" not in overdue
        assert re.search(r'class="task priority-high overdue"', overdue)

        urgent = text_of(browser.get(APP, {"priority": ["urgent", "low"]}))
        assert urgent.index("Call the bank") < urgent.index("Water plants")

        by_title = text_of(browser.get(APP, {"ordering": "title"}))
        positions = [by_title.index(t) for t in ("Call the bank", "Pay rent", "Water plants")]
        assert positions == sorted(positions)

        fragment = browser.get(APP, {"search": "rent"}, headers={"HX-Request": "true"})
        assert text_of(fragment).lstrip().startswith('<section id="results"')


def test_the_list_pages_twenty_at_a_time(browser: Client, owner: User) -> None:
    Task.objects.bulk_create(Task(owner=owner, title=f"Task {n:02}") for n in range(25))
    first = text_of(browser.get(APP, {"ordering": "title"}))
    assert "25 tasks" in first and "Task 19" in first and "Task 20" not in first
    second = text_of(browser.get(APP, {"ordering": "title", "page": "2"}))
    assert "Task 20" in second and "Page 2 of 2" in second


def test_a_bad_filter_is_reported_on_its_field(browser: Client) -> None:
    response = browser.get(APP, {"tags": "not/valid"})
    assert response.status_code == 200
    assert "Check the filters above." in text_of(response)


def test_someone_elses_task_is_a_404_for_every_page_and_action(
    browser: Client, outsider: User
) -> None:
    theirs = Task.objects.create(owner=outsider, title="Not yours")
    assert browser.get(f"{APP}tasks/{theirs.pk}/").status_code == 404
    for action in ("complete", "reopen", "delete", "reminders"):
        assert browser.post(f"{APP}tasks/{theirs.pk}/{action}/").status_code == 404
    assert browser.post(f"{APP}tasks/{theirs.pk}/", {"title": "Mine"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Not yours" and theirs.status == Status.PENDING


def test_a_post_without_the_csrf_token_is_refused(owner: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(f"{APP}tasks/new/", {"title": "Sneaky", "priority": "medium"})
    assert response.status_code == 403
    assert not Task.objects.exists()


def test_complete_and_reopen_go_back_where_the_user_was(browser: Client) -> None:
    task = new_task(browser, title="Pay rent")
    back = browser.post(f"{APP}tasks/{task.pk}/complete/", {"next": f"{APP}?status=pending"})
    assert back["Location"] == f"{APP}?status=pending"
    task.refresh_from_db()
    assert task.status == Status.COMPLETED
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        elsewhere = browser.post(f"{APP}tasks/{task.pk}/reopen/", {"next": target})
        assert elsewhere["Location"] == APP
    task.refresh_from_db()
    assert task.status == Status.PENDING


def test_the_weekly_picker_previews_the_next_occurrences_in_the_users_zone(
    browser: Client, owner: User, berlin: None
) -> None:
    with time_machine.travel(datetime(2030, 11, 25, tzinfo=UTC), tick=False):
        browser.force_login(owner)  # a session of that time
        response = browser.get(
            f"{APP}recurrence/preview/",
            {"due_at": "2030-12-02T10:00", "r-repeat": "WEEKLY", "r-interval": "1",
             "r-weekdays": ["MO", "WE"], "r-ends": "never"},
        )  # fmt: skip
    page = text_of(response)
    assert "FREQ=WEEKLY;BYDAY=MO,WE" in page
    dates = re.findall(r'datetime="([^"]+)"', page)
    assert dates[:3] == [
        "2030-12-02T10:00:00+01:00",
        "2030-12-04T10:00:00+01:00",
        "2030-12-09T10:00:00+01:00",
    ]


def test_the_preview_gives_the_rule_checks_message(browser: Client) -> None:
    response = browser.get(
        f"{APP}recurrence/preview/",
        {"due_at": "2030-12-02T10:00", "r-repeat": "CUSTOM", "r-rule": "FREQ=MINUTELY"},
    )
    assert "FREQ=MINUTELY is not supported" in text_of(response)


def test_the_picker_builds_monthly_nth_weekday_and_end_rules(browser: Client, owner: User) -> None:
    with time_machine.travel(datetime(2030, 11, 25, tzinfo=UTC), tick=False):
        browser.force_login(owner)  # a session of that time
        task = new_task(
            browser,
            title="Review",
            due_at="2030-12-27T09:00",
            picker={"r-repeat": "MONTHLY", "r-interval": "2", "r-monthly_by": "nth", "r-nth": "-1",
               "r-nth_weekday": "FR", "r-ends": "after", "r-count": "6"},
        )  # fmt: skip
    series = RecurringSeries.objects.get(pk=str(task.series_id))
    assert series.rule == "FREQ=MONTHLY;INTERVAL=2;BYDAY=-1FR;COUNT=6"


def test_a_weekly_task_completed_gets_its_next_instance(
    browser: Client, owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(datetime(2030, 11, 25, tzinfo=UTC), tick=False):
        browser.force_login(owner)  # a session of that time
        first = new_task(
            browser,
            title="Standup",
            due_at="2030-12-02T10:00",
            picker={
                "r-repeat": "WEEKLY",
                "r-interval": "1",
                "r-weekdays": ["MO"],
                "r-ends": "never",
            },
        )
        browser.post(f"{APP}tasks/{first.pk}/complete/")
        instances = Task.objects.filter(series_id=first.series_id).order_by("due_at")
        assert [t.due_at for t in instances] == [
            datetime(2030, 12, 2, 10, tzinfo=UTC),
            datetime(2030, 12, 9, 10, tzinfo=UTC),
        ]
        page = text_of(browser.get(APP, {"status": "pending"}))
        assert page.count(">Standup</a>") == 1 and "repeats" in page


def test_a_recurring_task_without_due_date_is_refused_with_the_apis_message(
    browser: Client,
) -> None:
    response = browser.post(
        f"{APP}tasks/new/",
        {"title": "Standup", "priority": "medium", "r-repeat": "DAILY", "r-interval": "1"},
    )
    assert response.status_code == 400
    assert "A recurring task needs a due date." in text_of(response)
    assert not Task.objects.exists()


def _weekly_series(browser: Client) -> Task:
    first = new_task(
        browser,
        title="Standup",
        due_at=(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT10:00"),
        picker={"r-repeat": "DAILY", "r-interval": "1", "r-ends": "never"},
    )
    browser.post(f"{APP}tasks/{first.pk}/complete/")
    return Task.objects.get(series_id=first.series_id, status=Status.PENDING)


def test_editing_this_occurrence_or_the_whole_series(
    browser: Client, inline_runtime: InlineRuntime
) -> None:
    current = _weekly_series(browser)
    response = browser.post(
        f"{APP}tasks/{current.pk}/",
        {"scope": "this", "title": "Standup in room 4", "priority": "medium"},
    )
    assert response.status_code == 302
    current.refresh_from_db()
    assert current.title == "Standup in room 4" and current.is_exception

    browser.post(
        f"{APP}tasks/{current.pk}/",
        {"scope": "series", "title": "Daily standup", "priority": "high", "tags": "work"},
    )
    series = RecurringSeries.objects.get(pk=str(current.series_id))
    assert (series.title, series.tags) == ("Daily standup", ["work"])
    current.refresh_from_db()
    assert current.title == "Standup in room 4"  # an exception keeps its own edit


def test_delete_this_occurrence_or_all_future_ones(
    browser: Client, inline_runtime: InlineRuntime
) -> None:
    current = _weekly_series(browser)
    browser.post(f"{APP}tasks/{current.pk}/delete/", {"scope": "this"})
    assert not Task.objects.filter(pk=current.pk).exists()
    series = RecurringSeries.objects.get(pk=str(current.series_id))
    assert current.occurrence in series.excluded
    assert Task.objects.filter(series_id=series.pk, status=Status.COMPLETED).count() == 1

    upcoming = _weekly_series(browser)
    browser.post(f"{APP}tasks/{upcoming.pk}/delete/", {"scope": "future"})
    assert not Task.objects.filter(series_id=upcoming.series_id, status=Status.PENDING).exists()
    assert Task.objects.filter(series_id=upcoming.series_id, status=Status.COMPLETED).count() == 1


def test_reminders_are_added_removed_and_checked_like_the_api(browser: Client) -> None:
    undated = new_task(browser, title="Someday")
    refused = browser.post(
        f"{APP}tasks/{undated.pk}/reminders/", {"rem-kind": "before", "rem-amount": "1",
                                                "rem-unit": "H"}
    )  # fmt: skip
    assert refused.status_code == 400
    assert "needs a due date" in text_of(refused) or "due date" in text_of(refused)

    task = new_task(browser, title="Pay rent", due_at="2030-12-01T09:00")
    for spec in (
        {"rem-kind": "before", "rem-amount": "1", "rem-unit": "D"},
        {"rem-kind": "at", "rem-at": "2030-11-30T18:00", "rem-channels": ["in_app", "email"]},
    ):
        assert browser.post(f"{APP}tasks/{task.pk}/reminders/", spec).status_code == 302
    reminders = list(task.reminders.order_by("fire_at"))
    assert [r.before for r in reminders] == [timedelta(days=1), None]
    assert sorted(reminders[1].channels) == ["email", "in_app"]

    browser.post(f"{APP}reminders/{reminders[0].pk}/delete/")
    assert task.reminders.count() == 1


def test_a_fired_reminder_shows_in_the_feed_and_the_unread_count(
    browser: Client, owner: User, inline_runtime: InlineRuntime
) -> None:
    due = datetime(2030, 12, 1, 9, tzinfo=UTC)
    with time_machine.travel(due - timedelta(days=2), tick=False):
        browser.force_login(owner)  # a session of that time
        task = new_task(browser, title="Pay rent", due_at="2030-12-01T09:00")
        browser.post(
            f"{APP}tasks/{task.pk}/reminders/",
            {"rem-kind": "before", "rem-amount": "1", "rem-unit": "H", "rem-channels": ["in_app"]},
        )
        assert 'aria-label="0 unread"' in text_of(browser.get(f"{APP}notifications/unread/"))
    with time_machine.travel(due - timedelta(hours=1), tick=False):
        inline_runtime.fire_due_jobs()
    assert Notification.objects.filter(user=owner, channel=Channel.IN_APP).count() == 1
    assert 'aria-label="1 unread"' in text_of(browser.get(f"{APP}notifications/unread/"))
    feed = text_of(browser.get(f"{APP}notifications/"))
    assert "Pay rent" in feed and f"{APP}tasks/{task.pk}/" in feed

    browser.post(f"{APP}notifications/read/")
    assert 'aria-label="0 unread"' in text_of(browser.get(f"{APP}notifications/unread/"))


def test_settings_change_the_zone_and_channels_with_the_apis_checks(
    browser: Client, owner: User
) -> None:
    bad = browser.post(f"{APP}settings/", {"timezone": "Mars/Olympus", "email": "on"})
    assert bad.status_code == 400
    ok = browser.post(f"{APP}settings/", {"timezone": "Asia/Tokyo", "in_app": "on"})
    assert ok.status_code == 302
    prefs = NotificationSettings.objects.get(user=owner)
    assert (prefs.timezone, prefs.email, prefs.push, prefs.in_app) == (
        "Asia/Tokyo",
        False,
        False,
        True,
    )


def test_an_api_token_is_shown_once_with_the_mcp_configuration_and_can_be_revoked(
    browser: Client, owner: User
) -> None:
    blank = browser.post(f"{APP}settings/tokens/", {"name": " ", "scopes": "read write"})
    assert blank.status_code == 400 and "This field may not be blank." in text_of(blank)

    created = browser.post(f"{APP}settings/tokens/", {"name": "chatbot", "scopes": "read write"})
    assert created.status_code == 201
    page = text_of(created)
    secret = re.search(r'id="token-secret" type="text" readonly value="(todo_pat_[^"]+)"', page)
    assert secret is not None
    assert "&quot;mcpServers&quot;" in page and "http://testserver/mcp" in page
    assert f"Bearer {secret.group(1)}" in page
    assert secret.group(1) not in text_of(browser.get(f"{APP}settings/"))

    token = ApiToken.objects.get(user=owner)
    browser.post(f"{APP}settings/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_password_change_page_changes_it(browser: Client, owner: User) -> None:
    response = browser.post(
        f"{APP}password/",
        {"old_password": "a-long-passphrase-42", "new_password1": "another-passphrase-7",
         "new_password2": "another-passphrase-7"},
    )  # fmt: skip
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("another-passphrase-7")


def test_pages_carry_the_stream_and_the_event_types_that_refresh_them(browser: Client) -> None:
    page = text_of(browser.get(APP))
    assert 'data-stream="/api/v1/events/stream/?after=' in page
    assert "todo.task.created.v1" in page and "todo.reminder.fired.v1" in page
    assert 'hx-trigger="todo:tasks from:body' in page
    assert "/static/dashboard_app/htmx.min.js" in page


class _Controls(HTMLParser):
    """The form controls of a page and the ids its labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        if tag in ("input", "select", "textarea") and found.get("type") not in ("hidden",):
            self.controls.append(found)


def test_every_form_control_has_a_label_or_an_accessible_name(browser: Client, owner: User) -> None:
    task = new_task(browser, title="Pay rent", due_at="2030-12-01T09:00")
    for path in ("", "tasks/new/", f"tasks/{task.pk}/", "settings/", "password/"):
        parser = _Controls()
        parser.feed(text_of(browser.get(f"{APP}{path}")))
        unnamed = [
            control
            for control in parser.controls
            if control.get("id") not in parser.labelled and not control.get("aria-label")
        ]
        assert parser.controls and not unnamed, (path, unnamed)
