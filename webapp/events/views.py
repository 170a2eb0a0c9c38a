"""The change feed: a user's own events in outbox order."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.request import AuthedRequest
from webapp.events.selectors import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT, event_feed
from webapp.events.serializers import EventFeedQuerySerializer, EventFeedSerializer


class EventFeedView(APIView):
    @extend_schema(
        tags=["events"],
        summary="The user's change feed",
        description=(
            "The requesting user's own events (CloudEvents 1.0 envelopes) with a sequence above "
            "`after`, in sequence order. Read on by passing `next_after` as the next `after`."
        ),
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0},
                description="last sequence already read (default 0: from the start)",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": FEED_MAX_LIMIT},
                description=f"1-{FEED_MAX_LIMIT}, default {FEED_DEFAULT_LIMIT}",
            ),
        ],
        responses={
            200: EventFeedSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad parameter"),
        },
    )
    def get(self, request: AuthedRequest) -> Response:
        unknown = set(request.query_params) - {"after", "limit"}
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in sorted(unknown)})
        query = EventFeedQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        after: int = query.validated_data["after"]
        events = event_feed(
            user=request.user,
            after=after,
            limit=query.validated_data["limit"],
        )
        feed = {"results": events, "next_after": events[-1].sequence if events else after}
        return Response(EventFeedSerializer(feed).data)
