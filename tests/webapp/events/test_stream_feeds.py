"""`event_feeds`, the stream's batched read: for each (user, position) what `event_feed` reads."""

from __future__ import annotations

from django.contrib.auth.models import User

from tests.webapp.events.conftest import emit_test_event
from webapp.events.selectors import event_feed, event_feeds


def test_each_reader_gets_what_its_own_feed_read_would_return(owner: User, outsider: User) -> None:
    mine = [emit_test_event(owner, n=n).sequence for n in range(4)]
    theirs = [emit_test_event(outsider, n=n).sequence for n in range(2)]
    positions = [(owner.pk, 0), (owner.pk, mine[1]), (outsider.pk, 0), (outsider.pk, theirs[-1])]

    feeds = event_feeds(positions=positions, limit=2)

    assert {key: [e.sequence for e in events] for key, events in feeds.items()} == {
        (owner.pk, 0): mine[:2],
        (owner.pk, mine[1]): mine[2:4],
        (outsider.pk, 0): theirs,
        (outsider.pk, theirs[-1]): [],
    }
    for (user, after), events in feeds.items():
        reader = owner if user == owner.pk else outsider
        expected = event_feed(user=reader, after=after, limit=2)
        assert [e.envelope for e in events] == [e.envelope for e in expected]


def test_no_readers_reads_nothing() -> None:
    assert event_feeds(positions=[]) == {}
