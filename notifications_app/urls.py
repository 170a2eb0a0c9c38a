from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from notifications_app import views

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "tasks/<uuid:task_id>/reminders/", views.TaskRemindersView.as_view(), name="task-reminders"
    ),
    path(
        "reminders/<uuid:reminder_id>/", views.ReminderDetailView.as_view(), name="reminder-detail"
    ),
    path("notifications/", views.NotificationListView.as_view(), name="notification-list"),
    path("devices/", views.DeviceListView.as_view(), name="device-list"),
    path("devices/<uuid:device_id>/", views.DeviceDetailView.as_view(), name="device-detail"),
    path(
        "me/notification-settings/",
        views.NotificationSettingsView.as_view(),
        name="notification-settings",
    ),
]
