from __future__ import annotations

from django.urls import path

from accounts_app.token_views import ApiTokenDetailView, ApiTokenListView
from accounts_app.views import RegisterView, TokenRefresh, TokenView

urlpatterns = [
    path("auth/register/", RegisterView.as_view(), name="register"),
    path("auth/token/", TokenView.as_view(), name="token"),
    path("auth/token/refresh/", TokenRefresh.as_view(), name="token-refresh"),
    path("auth/api-tokens/", ApiTokenListView.as_view(), name="api-token-list"),
    path("auth/api-tokens/<uuid:token_id>/", ApiTokenDetailView.as_view(), name="api-token-detail"),
]
