"""Task pages: the list, create, edit (this occurrence or the series), complete, delete.

Each view validates with the REST API's serializer and calls the same service the API calls;
the forms only translate browser input.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ValidationError as DrfValidationError

from dashboard_app.forms import (
    DueForm,
    RecurrenceForm,
    ReminderForm,
    TaskFilterForm,
    TaskForm,
    add_api_errors,
)
from dashboard_app.selectors import rule_preview
from dashboard_app.views.common import is_htmx, owner_view, page, user_of, user_time_zone
from notifications_app import services as notification_services
from notifications_app.selectors import reminder_get, reminder_list
from notifications_app.serializers import ReminderInputSerializer
from planning import services as planning_services
from planning.serializers import (
    SeriesUpdateSerializer,
    TaskCreateSerializer,
    TaskUpdateSerializer,
)
from recurrence_app import services as recurrence_services
from recurrence_app.models import RecurringSeries
from recurrence_app.selectors import series_get, series_occurrences
from tasks_app import services as task_services
from tasks_app.models import Task
from tasks_app.selectors import task_get, task_queryset
from tasks_app.selectors import task_list as tasks_matching

PAGE_SIZE = 20
PREVIEW_COUNT = 5
ValidationErrors = (DrfValidationError, DjangoValidationError)


def _local_midnight_utc(day: date) -> str:
    moment = timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
    return moment.isoformat()


def _api_filters(data: dict[str, Any]) -> QueryDict:
    """The list form's values as the API's query parameters (dates are days in the user's
    zone; the form's "to" day is inclusive, the API's `due_before` is not)."""
    params = QueryDict(mutable=True)
    for name in ("search", "status", "ordering", "tags"):
        if data.get(name):
            params[name] = data[name]
    if data.get("priority"):
        params["priority"] = ",".join(data["priority"])
    if data.get("due_after"):
        params["due_after"] = _local_midnight_utc(data["due_after"])
    if data.get("due_before"):
        params["due_before"] = _local_midnight_utc(data["due_before"] + timedelta(days=1))
    if data.get("overdue"):
        params["overdue"] = "true"
    return params


@require_GET
@owner_view
def task_list(request: HttpRequest) -> HttpResponse:
    """The list with search, filters, sort and pages; htmx asks for the results alone."""
    user = user_of(request)
    form = TaskFilterForm(request.GET)
    rows = task_queryset(user=user).none()
    if form.is_valid():
        try:
            rows = tasks_matching(user=user, filters=_api_filters(form.cleaned_data))
        except ValidationErrors as exc:
            add_api_errors(form, exc)
    paginator = Paginator(rows, PAGE_SIZE)
    current = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page_obj": current,
        "query": query.urlencode(),
        "now": timezone.now(),
        "filtered": any(
            value
            for name, values in request.GET.lists()
            if name not in ("search", "page")
            for value in values
        ),
    }
    template = "_task_results.html" if is_htmx(request) else "task_list.html"
    return page(request, template, context)


def _recurrence_payload(recurrence: RecurrenceForm, user_zone: str) -> dict[str, Any] | None:
    rule = recurrence.rule_text()
    if rule is None:
        return None
    anchor = recurrence.cleaned_data.get("anchor") or "due"
    return {"rule": rule, "timezone": user_zone, "anchor": anchor}


@require_http_methods(["GET", "POST"])
@owner_view
def task_create(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    form = TaskForm(request.POST or None)
    recurrence = RecurrenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and recurrence.is_valid():
        payload = form.payload()
        repeat = _recurrence_payload(recurrence, user_time_zone(user))
        if repeat is not None:
            payload["recurrence"] = repeat
        serializer = TaskCreateSerializer(data=payload)
        try:
            serializer.is_valid(raise_exception=True)
            task = planning_services.task_create(owner=user, **serializer.validated_data)
        except ValidationErrors as exc:
            add_api_errors(form, exc, rest=recurrence)
        else:
            return redirect("dashboard:task", task_id=task.pk)
    status = 400 if form.errors or recurrence.errors else 200
    return page(
        request,
        "task_form.html",
        {"form": form, "recurrence": recurrence, "task": None},
        status=status,
    )


def _task_context(task: Task, **extra: Any) -> dict[str, Any]:
    series: RecurringSeries | None = task.series
    upcoming = series_occurrences(series=series, limit=PREVIEW_COUNT) if series else []
    return {
        "task": task,
        "series": series,
        "upcoming": upcoming,
        "reminders": list(reminder_list(task=task)),
        "now": timezone.now(),
        **extra,
    }


def _edit_initial(task: Task) -> dict[str, Any]:
    due = timezone.localtime(task.due_at) if task.due_at else None
    return {
        "title": task.title,
        "description": task.description,
        "priority": task.get_priority_display(),
        "tags": ", ".join(task.tags),
        "due_at": due,
    }


@require_http_methods(["GET", "POST"])
@owner_view
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    """One task, its edit form and its reminders. POST saves the edit: to this task (an
    occurrence becomes an exception of its series) or, with scope=series, to the series."""
    user = user_of(request)
    task = task_get(user=user, task_id=task_id)
    if request.method == "GET" and is_htmx(request):
        return page(request, "_task_summary.html", _task_context(task))
    form = TaskForm(request.POST or None, initial=_edit_initial(task))
    recurrence = RecurrenceForm(request.POST or None) if task.series_id else None
    if request.method == "POST" and form.is_valid():
        scope = request.POST.get("scope", "this")
        try:
            if scope == "series" and task.series_id is not None and recurrence is not None:
                _update_series(user=user, task=task, form=form, recurrence=recurrence)
            else:
                _update_task(task=task, form=form)
        except ValidationErrors as exc:
            add_api_errors(form, exc, rest=recurrence)
        else:
            return redirect("dashboard:task", task_id=task.pk)
    context = _task_context(
        task, form=form, recurrence=recurrence, reminder_form=ReminderForm(), edit=True
    )
    return page(request, "task_detail.html", context, status=400 if form.errors else 200)


def _update_task(*, task: Task, form: TaskForm) -> None:
    serializer = TaskUpdateSerializer(data=form.payload(), partial=True)
    serializer.is_valid(raise_exception=True)
    planning_services.task_update(task=task, changes=dict(serializer.validated_data))


def _update_series(*, user: Any, task: Task, form: TaskForm, recurrence: RecurrenceForm) -> None:
    """The series from now on: its template fields and, if the picker is set, a new rule."""
    payload = form.payload()
    payload.pop("due_at")  # an instance's own time; the series keeps its time of day
    if not recurrence.is_valid():
        raise DrfValidationError({"rule": ["Check the repeat settings."]})
    repeat = _recurrence_payload(recurrence, user_time_zone(user))
    if repeat is not None:
        payload.update(repeat)
    serializer = SeriesUpdateSerializer(data=payload, partial=True)
    serializer.is_valid(raise_exception=True)
    series = series_get(user=user, series_id=task.series_id)
    recurrence_services.series_update(series=series, changes=dict(serializer.validated_data))


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to the page the action came from (a page of this site only), else `fallback`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


@require_POST
@owner_view
def task_complete(request: HttpRequest, task_id: str) -> HttpResponse:
    task = task_get(user=user_of(request), task_id=task_id)
    task_services.task_complete(task=task)
    return _back(request, reverse("dashboard:tasks"))


@require_POST
@owner_view
def task_reopen(request: HttpRequest, task_id: str) -> HttpResponse:
    task = task_get(user=user_of(request), task_id=task_id)
    task_services.task_reopen(task=task)
    return _back(request, reverse("dashboard:tasks"))


@require_POST
@owner_view
def task_delete(request: HttpRequest, task_id: str) -> HttpResponse:
    """Delete the task, or with scope=future its series' pending occurrences (completed ones
    stay, as the API's series DELETE does)."""
    user = user_of(request)
    task = task_get(user=user, task_id=task_id)
    if request.POST.get("scope") == "future" and task.series_id is not None:
        recurrence_services.series_delete(series=series_get(user=user, series_id=task.series_id))
    else:
        planning_services.task_delete(task=task)
    return redirect("dashboard:tasks")


@require_POST
@owner_view
def reminder_add(request: HttpRequest, task_id: str) -> HttpResponse:
    task = task_get(user=user_of(request), task_id=task_id)
    reminder_form = ReminderForm(request.POST)
    if reminder_form.is_valid():
        serializer = ReminderInputSerializer(data=reminder_form.payload())
        try:
            serializer.is_valid(raise_exception=True)
            notification_services.reminder_add(task=task, spec=serializer.validated_data)
        except ValidationErrors as exc:
            add_api_errors(reminder_form, exc, aliases={"before": "amount", "reminders": "__all__"})
        else:
            return redirect("dashboard:task", task_id=task.pk)
    form = TaskForm(initial=_edit_initial(task))
    recurrence = RecurrenceForm() if task.series_id else None
    context = _task_context(
        task, form=form, recurrence=recurrence, reminder_form=reminder_form, edit=True
    )
    return page(request, "task_detail.html", context, status=400)


@require_POST
@owner_view
def reminder_delete(request: HttpRequest, reminder_id: str) -> HttpResponse:
    reminder = reminder_get(user=user_of(request), reminder_id=reminder_id)
    notification_services.reminder_delete(reminder=reminder)
    return redirect("dashboard:task", task_id=reminder.task_id)


@require_GET
@owner_view
def recurrence_preview(request: HttpRequest) -> HttpResponse:
    """The next occurrences of the rule the picker describes, from the due date typed in.

    The same checks as creating the series (recurrence_services.validate_recurrence), so a
    rule the preview accepts is one the API accepts.
    """
    user = user_of(request)
    form = DueForm(request.GET)
    recurrence = RecurrenceForm(request.GET)
    context: dict[str, Any] = {"rule": None, "moments": [], "error": None}
    if form.is_valid() and recurrence.is_valid():
        rule = recurrence.rule_text()
        due: datetime | None = form.cleaned_data.get("due_at")
        context["rule"] = rule
        if rule and due is None:
            context["error"] = "Set a due date: the first occurrence is the due date."
        elif rule and due is not None:
            context["moments"], context["error"] = rule_preview(
                rule=rule,
                zone_name=user_time_zone(user),
                anchor=recurrence.cleaned_data.get("anchor") or "due",
                first=due,
                limit=PREVIEW_COUNT,
            )
    else:
        context["error"] = (
            " ".join(str(message) for errors in recurrence.errors.values() for message in errors)
            or "Check the due date."
        )
    return page(request, "_recurrence_preview.html", context)
