from __future__ import annotations

from rest_framework.routers import SimpleRouter

from recurrence_app.views import SeriesViewSet

router = SimpleRouter()
router.register("series", SeriesViewSet, basename="series")

urlpatterns = router.urls
