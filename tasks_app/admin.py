"""Support staff find a user's tasks by title, username or email and narrow them down.

Changes made here go through the task services, so they emit the same events as the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

# The admin is an adapter that Django finds in the app (autodiscovery): it deletes through
# planning like the API, so a series instance's occurrence stays excluded (the one exception to
# "tasks_app imports nothing above it", named in the import-linter contracts).
from planning import services as planning
from tasks_app import services
from tasks_app.models import Task
from tasks_app.validation import clean_title, normalize_tags


class TaskAdminForm(forms.ModelForm[Task]):
    """Runs the service's field rules up front so a bad value is a form error, not a crash."""

    class Meta:
        model = Task
        fields = list(services.EDITABLE_FIELDS)

    def clean_title(self) -> str:
        try:
            return clean_title(self.cleaned_data["title"])
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["title"]) from exc

    def clean_tags(self) -> list[str]:
        try:
            return normalize_tags(self.cleaned_data["tags"] or [])
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["tags"]) from exc


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin[Task]):
    form = TaskAdminForm
    list_display = ("title", "owner", "status", "priority", "due_at", "series", "updated_at")
    list_filter = (
        ("owner", admin.RelatedOnlyFieldListFilter),
        "status",
        "priority",
        ("due_at", admin.DateFieldListFilter),
    )
    search_fields = ("title", "owner__username", "owner__email")
    list_select_related = ("owner", "series")
    fields = (
        "id",
        "owner",
        "title",
        "description",
        "priority",
        "tags",
        "due_at",
        "status",
        "completed_at",
        "series",
        "occurrence",
        "is_exception",
        "created_at",
        "updated_at",
    )
    # Only what task_update may change is editable; search_vector (trigger-maintained) is hidden.
    readonly_fields = tuple(f for f in fields if f not in services.EDITABLE_FIELDS)
    date_hierarchy = "due_at"
    ordering = ("-updated_at",)
    actions = ("complete_tasks", "reopen_tasks")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return super().get_queryset(request).defer("search_vector")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are created by their owners

    def save_model(
        self, request: HttpRequest, obj: Task, form: forms.ModelForm[Task], change: bool
    ) -> None:
        changes = {
            f: form.cleaned_data[f] for f in form.changed_data if f in services.EDITABLE_FIELDS
        }
        stored = Task.objects.get(pk=obj.pk)
        updated = services.task_update(task=stored, changes=changes)
        obj.__dict__.update(updated.__dict__)

    def delete_model(self, request: HttpRequest, obj: Task) -> None:
        planning.task_delete(task=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        for task in queryset:
            planning.task_delete(task=task)

    @admin.action(description="Mark selected tasks completed")
    def complete_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._each(request, queryset, services.task_complete, "completed")

    @admin.action(description="Reopen selected tasks")
    def reopen_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._each(request, queryset, services.task_reopen, "reopened")

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Task], service: Any, verb: str
    ) -> None:
        tasks = list(queryset)
        for task in tasks:
            service(task=task)
        self.message_user(request, f"{len(tasks)} task(s) {verb}.", messages.SUCCESS)
