"""Jobs through the Dapr runtime: the Jobs API requests the fake sidecar receives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from tests.fakes.dapr_sidecar import FailurePolicy, FakeDaprSidecar
from webapp.events import jobs
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.dapr import DaprRuntime

DUE = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def runtime(dapr_sidecar: FakeDaprSidecar) -> Iterator[DaprRuntime]:
    dapr = DaprRuntime(autostart=False)
    set_runtime(dapr)
    yield dapr
    dapr.stop()


def test_a_job_is_scheduled_once_at_its_due_time_with_overwrite_and_retries(
    dapr_sidecar: FakeDaprSidecar,
) -> None:
    jobs.schedule(name="reminder-42", due_at=DUE, data={"reminder": 42, "channels": ["email"]})

    [job] = dapr_sidecar.scheduled
    assert job.name == "reminder-42"
    assert job.method == "ScheduleJob"
    assert job.due_time == "2030-01-02T03:04:05Z"
    assert job.schedule == "" and job.repeats is None
    assert job.overwrite is True
    assert job.failure_policy == FailurePolicy("constant", max_retries=3, interval_seconds=5)
    assert job.payload == {"reminder": 42, "channels": ["email"]}


def test_due_times_in_other_zones_are_sent_in_utc(dapr_sidecar: FakeDaprSidecar) -> None:
    berlin_lunch = datetime(2030, 6, 1, 13, 0, tzinfo=ZoneInfo("Europe/Berlin"))

    jobs.schedule(name="series-7", due_at=berlin_lunch)

    assert dapr_sidecar.scheduled[0].due_time == "2030-06-01T11:00:00Z"
    assert dapr_sidecar.scheduled[0].payload == {}


def test_rescheduling_a_name_replaces_the_job(dapr_sidecar: FakeDaprSidecar) -> None:
    jobs.schedule(name="reminder-1", due_at=DUE, data={"v": 1})
    jobs.schedule(name="reminder-1", due_at=DUE + timedelta(hours=1), data={"v": 2})

    assert list(dapr_sidecar.jobs) == ["reminder-1"]
    assert dapr_sidecar.jobs["reminder-1"].due_time == "2030-01-02T04:04:05Z"
    assert dapr_sidecar.jobs["reminder-1"].payload == {"v": 2}


def test_a_job_is_cancelled_by_name(dapr_sidecar: FakeDaprSidecar) -> None:
    jobs.schedule(name="reminder-1", due_at=DUE)
    jobs.schedule(name="reminder-2", due_at=DUE)

    jobs.cancel(name="reminder-1")

    assert dapr_sidecar.deleted_jobs == ["reminder-1"]
    assert list(dapr_sidecar.jobs) == ["reminder-2"]


def test_cancelling_a_job_that_is_not_there_is_fine(dapr_sidecar: FakeDaprSidecar) -> None:
    jobs.cancel(name="reminder-gone")

    assert dapr_sidecar.deleted_jobs == ["reminder-gone"]


def test_a_failed_schedule_raises_so_the_triggering_change_rolls_back(
    dapr_sidecar: FakeDaprSidecar,
) -> None:
    dapr_sidecar.fail_next("ScheduleJob", code=grpc.StatusCode.INTERNAL)

    with pytest.raises(grpc.RpcError) as failure:
        jobs.schedule(name="reminder-1", due_at=DUE)

    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert dapr_sidecar.jobs == {}


def test_a_failed_cancel_other_than_not_found_raises(dapr_sidecar: FakeDaprSidecar) -> None:
    dapr_sidecar.fail_next("DeleteJob", code=grpc.StatusCode.UNAVAILABLE)

    with pytest.raises(grpc.RpcError):
        jobs.cancel(name="reminder-1")


def test_a_sidecar_before_dapr_1_18_gets_the_alpha_jobs_api(
    dapr_sidecar: FakeDaprSidecar,
) -> None:
    dapr_sidecar.fail_next("ScheduleJob", code=grpc.StatusCode.UNIMPLEMENTED)
    dapr_sidecar.fail_next("DeleteJob", code=grpc.StatusCode.UNIMPLEMENTED)

    jobs.schedule(name="series-9", due_at=DUE)
    jobs.cancel(name="series-9")

    assert [job.method for job in dapr_sidecar.scheduled] == ["ScheduleJobAlpha1"]
    assert len(dapr_sidecar.calls_of("DeleteJobAlpha1")) == 1
    assert dapr_sidecar.jobs == {}


def test_a_naive_due_time_is_refused(dapr_sidecar: FakeDaprSidecar) -> None:
    with pytest.raises(ValueError, match="aware"):
        jobs.schedule(name="reminder-1", due_at=datetime(2030, 1, 1))

    assert dapr_sidecar.calls == []
