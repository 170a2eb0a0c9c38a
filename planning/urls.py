from __future__ import annotations

from rest_framework.routers import SimpleRouter

from planning.views import SeriesViewSet, TaskViewSet

router = SimpleRouter()
router.register("tasks", TaskViewSet, basename="task")
router.register("series", SeriesViewSet, basename="series")

urlpatterns = router.urls
