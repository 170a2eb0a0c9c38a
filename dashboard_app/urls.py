"""The web app for task owners, mounted at /app/ (webapp/urls.py)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from dashboard_app.views import account, inbox, tasks

app_name = "dashboard"

urlpatterns = [
    path("", tasks.task_list, name="tasks"),
    path("tasks/new/", tasks.task_create, name="task-create"),
    path("tasks/<uuid:task_id>/", tasks.task_detail, name="task"),
    path("tasks/<uuid:task_id>/complete/", tasks.task_complete, name="task-complete"),
    path("tasks/<uuid:task_id>/reopen/", tasks.task_reopen, name="task-reopen"),
    path("tasks/<uuid:task_id>/delete/", tasks.task_delete, name="task-delete"),
    path("tasks/<uuid:task_id>/reminders/", tasks.reminder_add, name="reminder-add"),
    path("reminders/<uuid:reminder_id>/delete/", tasks.reminder_delete, name="reminder-delete"),
    path("recurrence/preview/", tasks.recurrence_preview, name="recurrence-preview"),
    path("notifications/", inbox.notifications, name="notifications"),
    path("notifications/read/", inbox.notifications_read, name="notifications-read"),
    path("notifications/unread/", inbox.unread, name="unread"),
    path("settings/", account.settings_view, name="settings"),
    path("settings/tokens/", account.token_create, name="token-create"),
    path("settings/tokens/<uuid:token_id>/revoke/", account.token_revoke, name="token-revoke"),
    path("register/", account.register, name="register"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="dashboard_app/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="dashboard_app/password_change.html",
            success_url=reverse_lazy("dashboard:password-done"),
        ),
        name="password",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="dashboard_app/password_change_done.html"
        ),
        name="password-done",
    ),
]
