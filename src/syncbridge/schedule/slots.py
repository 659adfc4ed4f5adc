"""When a schedule's slots fall: the latest one at or before a time, and the next one after.

A slot is a time the trigger fires (whole seconds, aware UTC here). The ticker claims the
latest slot at the time it ticks, so a tick that fires a little late still claims its own
slot; the catch-up at start-up looks at the latest slot of each job.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

#: How far back a slot is looked for (a yearly schedule still has one).
MAX_LOOKBACK = timedelta(days=400)
_FIRST_LOOKBACK = timedelta(minutes=1)
#: Cron slots are whole seconds: the next slot strictly after one is at least this later.
_RESOLUTION = timedelta(seconds=1)


#: Crontab's day-of-week numbers (0 and 7 are Sunday); APScheduler 3 counts from Monday.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday(number: str) -> str:
    if int(number) >= len(_WEEKDAYS):
        raise ValueError(f"a day of the week is 0 to 7, not {number}")
    return _WEEKDAYS[int(number)]


def _weekday_names(field: str) -> str:
    """A crontab day-of-week field with its numbers as names (``1-5`` -> ``mon-fri``)."""

    if "/" in field:
        # APScheduler steps through weekdays from Monday, crontab from Sunday: refused
        # rather than read differently.
        raise ValueError(f"list the days of the week instead of a step ({field!r})")
    return re.sub(r"\d+", lambda m: _weekday(m.group()), field)


def cron_trigger(crontab: str, timezone: str) -> CronTrigger:
    """The trigger of a standard five-field crontab (minute hour day month weekday, Sunday
    being 0 or 7) read in ``timezone``; raises ``ValueError`` for anything else."""
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab has 5 fields, {crontab!r} has {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=ZoneInfo(timezone),
    )


def _at_or_after(trigger: BaseTrigger, when: datetime) -> datetime | None:
    fire: datetime | None = trigger.get_next_fire_time(None, when)
    return None if fire is None else fire.astimezone(UTC)


def next_slot(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first slot strictly after ``after`` (aware); None when the trigger is done."""
    fire = _at_or_after(trigger, after)
    if fire is not None and fire <= after:
        fire = _at_or_after(trigger, after + _RESOLUTION)
    return fire


def latest_slot(trigger: BaseTrigger, at: datetime) -> datetime | None:
    """The last slot at or before ``at`` (aware); None when there is none in a long while."""
    span = _FIRST_LOOKBACK
    while span <= MAX_LOOKBACK:
        fire = _at_or_after(trigger, at - span)
        if fire is not None and fire <= at:
            # No slot lies in the later half of the span (it was looked at before), so the
            # walk forward is a few steps.
            while (following := next_slot(trigger, fire)) is not None and following <= at:
                fire = following
            return fire
        span *= 2
    return None
