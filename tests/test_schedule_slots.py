"""Where a schedule's slots fall: the latest at or before a time, the next after it, in the
schedule's time zone (the pure core the ticker and ``/v1/schedules`` stand on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger

from syncbridge.schedule import ScheduledJob, latest_slot, next_slot, scheduled_jobs
from syncbridge.settings import Settings


def cron(crontab: str, timezone: str = "UTC") -> CronTrigger:
    return ScheduledJob.from_crontab("job", crontab, timezone, "").trigger


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("crontab", "when", "latest", "following"),
    [
        ("*/15 * * * *", "2027-03-01T10:07:30+00:00", "2027-03-01T10:00:00+00:00", "10:15"),
        ("*/15 * * * *", "2027-03-01T10:15:00+00:00", "2027-03-01T10:15:00+00:00", "10:30"),
        ("0 2 * * *", "2027-03-01T01:59:59+00:00", "2027-02-28T02:00:00+00:00", "02:00"),
        ("0 2 * * *", "2027-03-01T02:00:00.5+00:00", "2027-03-01T02:00:00+00:00", "02:00"),
        # Weekdays as crontab counts them: 0 is Sunday (APScheduler 3 alone would say Monday).
        ("0 3 * * 0", "2027-03-01T12:00:00+00:00", "2027-02-28T03:00:00+00:00", "03:00"),
        ("0 3 * * 1-5", "2027-03-01T02:00:00+00:00", "2027-02-26T03:00:00+00:00", "03:00"),
        ("0 0 1 1 *", "2027-03-01T12:00:00+00:00", "2027-01-01T00:00:00+00:00", "00:00"),
    ],
)
def test_the_latest_slot_and_the_next_one(
    crontab: str, when: str, latest: str, following: str
) -> None:
    trigger = cron(crontab)
    slot = latest_slot(trigger, at(when))
    assert slot == at(latest)
    upcoming = next_slot(trigger, at(when))
    assert upcoming is not None
    assert upcoming > at(when)
    assert upcoming.strftime("%H:%M") == following
    # Nothing fires between the latest slot and the next one.
    assert next_slot(trigger, at(latest)) == upcoming


def test_a_schedule_is_read_in_its_time_zone_across_daylight_saving() -> None:
    nightly = cron("0 2 * * *", "Europe/Paris")
    # 02:00 in Paris is 01:00 UTC in winter and 00:00 UTC in summer.
    assert latest_slot(nightly, at("2027-01-15T12:00:00+00:00")) == at("2027-01-15T01:00:00Z")
    assert latest_slot(nightly, at("2027-07-15T12:00:00+00:00")) == at("2027-07-15T00:00:00Z")


def test_the_jobs_come_from_settings_with_their_defaults() -> None:
    jobs = scheduled_jobs(Settings(schedule_timezone="Europe/Paris"))
    assert {name: job.schedule for name, job in jobs.items()} == {
        "reconcile": "0 2 * * *",
        "sync.incremental": "*/15 * * * *",
        "inbox.retention": "0 * * * *",
    }
    assert {job.timezone for job in jobs.values()} == {"Europe/Paris"}


@pytest.mark.parametrize(
    "bad",
    [
        {"schedule_reconcile": "0 25 * * *"},
        {"schedule_sync_incremental": "every 15 minutes"},
        {"schedule_inbox_retention": "0 * * * 8"},
        {"schedule_inbox_retention": "0 * * * */2"},
        {"schedule_timezone": "Mars/Olympus"},
    ],
)
def test_settings_refuse_a_bad_schedule_or_time_zone(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).removeprefix("schedule_")):
        Settings(**bad)  # type: ignore[arg-type]
