"""HTML forms of the web app.

These forms only turn browser input (a `datetime-local` in the user's zone, comma-separated
tags, a recurrence picker, checkboxes) into the API's request bodies. Every rule and every
message then comes from the API's serializers and the services, through `api_errors`, so the
web app is exactly as strict as the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError as DrfValidationError

from notifications_app.models import Channel
from recurrence_app.models import Anchor
from tasks_app.models import Priority
from webapp.timezones import TIME_ZONES

LOCAL_INPUT = "%Y-%m-%dT%H:%M"
# Browsers send seconds too when the input's step asks for them.
LOCAL_INPUT_SECONDS = "%Y-%m-%dT%H:%M:%S"
PRIORITY_CHOICES = [(member.label, member.label.capitalize()) for member in Priority]
WEEKDAYS = [
    ("MO", "Mon"),
    ("TU", "Tue"),
    ("WE", "Wed"),
    ("TH", "Thu"),
    ("FR", "Fri"),
    ("SA", "Sat"),
    ("SU", "Sun"),
]
CHANNEL_CHOICES = [(c.value, c.label) for c in Channel]
TIME_ZONE_CHOICES = [(name, name) for name in sorted(TIME_ZONES)]


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format=LOCAL_INPUT)


def local_datetime_field(label: str) -> forms.DateTimeField:
    """A date and time typed in the user's zone (activated per request), read as aware UTC."""
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=[LOCAL_INPUT, LOCAL_INPUT_SECONDS],
        widget=LocalDateTimeInput(),
    )


def api_errors(exc: Exception) -> dict[str, list[str]]:
    """The messages of a 400 from a serializer or a service, one flat list per field.

    Nested errors (`{"recurrence": {"rule": [...]}}`, `{"tags": {"0": [...]}}`) are flattened
    to the form field that holds the input: the nested key when the form has no other home.
    """
    if isinstance(exc, DrfValidationError):
        detail: Any = exc.detail
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    else:
        raise TypeError(exc)
    if not isinstance(detail, Mapping):
        detail = {"__all__": detail}
    flat: dict[str, list[str]] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for inner_key, inner in value.items():
                nested = str(inner_key)
                walk(key if nested.isdigit() else nested, inner)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(key, item)
        else:
            flat.setdefault(key, []).append(str(value))

    for key, value in detail.items():
        walk("__all__" if key == "non_field_errors" else str(key), value)
    return flat


def add_api_errors(
    form: forms.Form,
    exc: Exception,
    *,
    aliases: Mapping[str, str] | None = None,
    rest: forms.Form | None = None,
) -> None:
    """Show the API's messages on the form's fields. A message for a name the form has no
    field for goes to `rest` (the recurrence picker, for `rule` or `timezone`) as a message
    about the whole of it, else to the whole form."""
    for name, messages in api_errors(exc).items():
        field: str | None = (aliases or {}).get(name, name)
        target = form
        if field not in form.fields:
            target = rest if rest is not None else form
            field = None
        for message in messages:
            target.add_error(field, message)


def split_tags(raw: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", raw.strip()) if part]


class TaskForm(forms.Form):
    title = forms.CharField(label="Title", required=False)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea)
    priority = forms.ChoiceField(label="Priority", choices=PRIORITY_CHOICES, initial="medium")
    tags = forms.CharField(
        label="Tags", required=False, help_text="Separated by commas or spaces, e.g. home, bills"
    )
    due_at = local_datetime_field("Due")

    def payload(self) -> dict[str, Any]:
        """The body the REST API would receive for this form."""
        data = self.cleaned_data
        due: datetime | None = data.get("due_at")
        return {
            "title": data.get("title", ""),
            "description": data.get("description", ""),
            "priority": data.get("priority", "medium"),
            "tags": split_tags(data.get("tags", "")),
            "due_at": due.isoformat() if due else None,
        }


class DueForm(forms.Form):
    """The due date alone, which the recurrence preview starts from."""

    due_at = local_datetime_field("Due")


class RecurrenceForm(forms.Form):
    """A picker for the common rules, and a field for any other RRULE."""

    prefix = "r"
    repeat = forms.ChoiceField(
        label="Repeat",
        choices=[
            ("", "Does not repeat"),
            ("DAILY", "Daily"),
            ("WEEKLY", "Weekly"),
            ("MONTHLY", "Monthly"),
            ("YEARLY", "Yearly"),
            ("CUSTOM", "Custom rule (RRULE)"),
        ],
        required=False,
    )
    interval = forms.IntegerField(
        label="Every", min_value=1, max_value=999, initial=1, required=False
    )
    weekdays = forms.MultipleChoiceField(
        label="On", choices=WEEKDAYS, required=False, widget=forms.CheckboxSelectMultiple
    )
    monthly_by = forms.ChoiceField(
        label="Monthly on",
        choices=[("day", "day of the month"), ("nth", "weekday of the month")],
        initial="day",
        required=False,
    )
    month_day = forms.IntegerField(
        label="Day of the month", min_value=-1, max_value=31, required=False,
        help_text="-1 is the last day",
    )  # fmt: skip
    nth = forms.ChoiceField(
        label="Which",
        choices=[("1", "first"), ("2", "second"), ("3", "third"), ("4", "fourth"), ("-1", "last")],
        required=False,
    )
    nth_weekday = forms.ChoiceField(label="Weekday", choices=WEEKDAYS, required=False)
    ends = forms.ChoiceField(
        label="Ends",
        choices=[("never", "never"), ("on", "on a date"), ("after", "after a number of times")],
        initial="never",
        required=False,
    )
    until = forms.DateField(
        label="End date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    count = forms.IntegerField(label="Times", min_value=1, max_value=1000, required=False)
    rule = forms.CharField(label="RRULE", required=False, max_length=500)
    anchor = forms.ChoiceField(
        label="Next one counts from",
        choices=[(Anchor.DUE, "the due date"), (Anchor.COMPLETION, "when I complete it")],
        initial=Anchor.DUE,
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        repeat = data.get("repeat")
        if repeat == "CUSTOM" and not (data.get("rule") or "").strip():
            self.add_error("rule", "Enter a rule, e.g. FREQ=WEEKLY;BYDAY=MO,WE.")
        if repeat and repeat != "CUSTOM":
            if data.get("ends") == "on" and not data.get("until"):
                self.add_error("until", "Enter the end date.")
            if data.get("ends") == "after" and not data.get("count"):
                self.add_error("count", "Enter how many times.")
        return data

    def rule_text(self) -> str | None:
        """The RRULE the picker describes, or None for a task that does not repeat."""
        data = self.cleaned_data
        repeat = data.get("repeat")
        if not repeat:
            return None
        if repeat == "CUSTOM":
            text: str = data.get("rule", "").strip()
            return text
        parts = [f"FREQ={repeat}"]
        if (data.get("interval") or 1) > 1:
            parts.append(f"INTERVAL={data['interval']}")
        if repeat == "WEEKLY" and data.get("weekdays"):
            parts.append("BYDAY=" + ",".join(data["weekdays"]))
        if repeat == "MONTHLY":
            if data.get("monthly_by") == "nth" and data.get("nth") and data.get("nth_weekday"):
                parts.append(f"BYDAY={data['nth']}{data['nth_weekday']}")
            elif data.get("month_day"):
                parts.append(f"BYMONTHDAY={data['month_day']}")
        if data.get("ends") == "on" and data.get("until"):
            parts.append("UNTIL=" + data["until"].strftime("%Y%m%d"))
        elif data.get("ends") == "after" and data.get("count"):
            parts.append(f"COUNT={data['count']}")
        return ";".join(parts)


class ReminderForm(forms.Form):
    prefix = "rem"
    kind = forms.ChoiceField(
        label="Remind me",
        choices=[("before", "before it is due"), ("at", "at a time")],
        initial="before",
    )
    amount = forms.IntegerField(label="How long before", min_value=0, required=False, initial=15)
    unit = forms.ChoiceField(
        label="Unit",
        choices=[("M", "minutes"), ("H", "hours"), ("D", "days")],
        initial="M",
        required=False,
    )
    at = local_datetime_field("At")
    channels = forms.MultipleChoiceField(
        label="Channels",
        choices=CHANNEL_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: the channels on in your settings",
    )

    def payload(self) -> dict[str, Any]:
        data = self.cleaned_data
        spec: dict[str, Any] = {}
        if data.get("kind") == "at":
            at: datetime | None = data.get("at")
            spec["at"] = at.isoformat() if at else None
        else:
            amount = data.get("amount") or 0
            unit = data.get("unit") or "M"
            spec["before"] = f"P{amount}D" if unit == "D" else f"PT{amount}{unit}"
        if data.get("channels"):
            spec["channels"] = list(data["channels"])
        return spec


class SettingsForm(forms.Form):
    timezone = forms.ChoiceField(label="Time zone", choices=TIME_ZONE_CHOICES)
    email = forms.BooleanField(label="Email", required=False)
    push = forms.BooleanField(label="Push", required=False)
    in_app = forms.BooleanField(label="In the app", required=False)


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, required=False)
    scopes = forms.ChoiceField(
        label="Access",
        choices=[("read write", "read and write"), ("read", "read only")],
        initial="read write",
    )


class RegisterForm(forms.Form):
    username = forms.CharField(label="Username", required=False)
    email = forms.CharField(label="Email", required=False, widget=forms.EmailInput)
    password = forms.CharField(label="Password", required=False, widget=forms.PasswordInput)


class TaskFilterForm(forms.Form):
    """The list's search and filters; the view turns them into the API's query parameters."""

    search = forms.CharField(label="Search", required=False, max_length=500)
    status = forms.ChoiceField(
        label="Status",
        choices=[("", "Any"), ("pending", "Pending"), ("completed", "Completed")],
        required=False,
    )
    priority = forms.MultipleChoiceField(
        label="Priority",
        choices=PRIORITY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    tags = forms.CharField(label="Tags (any of)", required=False)
    due_after = forms.DateField(
        label="Due from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    due_before = forms.DateField(
        label="Due to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    overdue = forms.BooleanField(label="Overdue only", required=False)
    ordering = forms.ChoiceField(
        label="Sort by",
        choices=[
            ("", "Priority, then due date"),
            ("due_at,-priority", "Due date"),
            ("-created_at", "Newest first"),
            ("-updated_at", "Recently changed"),
            ("title", "Title"),
        ],
        required=False,
    )

    def clean_tags(self) -> str:
        return ",".join(split_tags(self.cleaned_data.get("tags") or ""))
