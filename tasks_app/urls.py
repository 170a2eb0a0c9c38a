from __future__ import annotations

from rest_framework.routers import SimpleRouter

from tasks_app.views import TaskViewSet

router = SimpleRouter()
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = router.urls
