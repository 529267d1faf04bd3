"""What `segbot serve` does in the background, in every mode:

- scheduled retrains from SEGBOT_RETRAIN_CRON in SEGBOT_TIMEZONE (APScheduler),
  each announced through an `Announcer`;
- a light watch on the model directory, so a switch made by another process (a
  retrain, a rollback, `segbot train`) is picked up within about a second even when
  no query arrives, and the next query does not pay for loading the new version.

SEGBOT_RETRAIN_CRON is standard 5-field cron. APScheduler 3 reads the day-of-week
field with 0 = Monday (cron: 0 = Sunday) and combines day-of-month and day-of-week
with "and" (cron: "or" when both are set), so the expression is translated here
rather than handed to `CronTrigger.from_crontab`: `0 6 * * 1` runs on Mondays.

Several processes may share a model directory, each with the same cron. The
file lock already keeps them from training at once; on top of that each
scheduled run first claims its slot (the fire time) in the model directory, so
one slot is trained and announced once, not once per process.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout

from bot.announce import Announcer
from bot.settings import BotSettings
from model import RetrainInProgress, SegbotError, SegmentService, write_atomic

log = logging.getLogger(__name__)

# A run that could not start on time (the process was busy or suspended) still runs
# within this many seconds; later than that it waits for the next slot. Missed runs
# are coalesced into one.
MISFIRE_GRACE = 15 * 60
WATCH_EVERY = 1.0  # seconds between looks at the served version (docs/operations.md)
SLOT_FILE = ".last-scheduled-run"
SLOT_LOCK = ".schedule.lock"
# Tests only: retrain every N seconds instead of the cron, to see the schedule fire
# without waiting a minute. Never set in production; `serve` warns when it is.
TEST_EVERY_ENV = "SEGBOT_TEST_RETRAIN_SECONDS"
CRON_HELP = (
    "5 fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * 1' for Mondays at 06:00"
)
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# ---- settings -> trigger -----------------------------------------------------------------------
def timezone_of(settings: BotSettings) -> tzinfo:
    name = (settings.timezone or "").strip() or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SegbotError(
            f"SEGBOT_TIMEZONE={name!r} is not a known timezone; use an IANA name such as "
            "UTC or Europe/Berlin"
        ) from None


def _day(text: str) -> int:
    text = text.strip()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7
    if text in DAYS:
        return DAYS.index(text)
    raise ValueError(f"day of week {text!r} is not 0-7 or sun-sat")


def cron_days(field: str) -> str:
    """Standard cron's day-of-week field (0 or 7 = Sunday, names, ranges, lists,
    steps) as APScheduler day names: '1-5' -> 'mon,tue,wed,thu,fri'."""
    field = field.strip().lower()
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"step {step_text!r} in {part!r} is not a positive number")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            first, last = _day(a), _day(b)
            if last == 0 and first > 0:  # 5-7, fri-sun: Sunday ends the week too
                last = 7
            if first > last:
                raise ValueError(f"range {span!r} runs backwards")
        else:
            first = _day(span)
            last = 7 if step_text else first
        days.update(d % 7 for d in range(first, last + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(DAYS[d] for d in sorted(days))


def cron_trigger(expression: str, tz: tzinfo) -> BaseTrigger:
    """A trigger that fires when standard cron would."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"it has {len(fields)} fields, not 5")
    minute, hour, day, month, day_of_week = fields
    days = cron_days(day_of_week)
    common = {"minute": minute, "hour": hour, "month": month, "timezone": tz}
    if not day.startswith("*") and not day_of_week.startswith("*"):
        # cron: "on the 1st and on Mondays", not "on the 1st if it is a Monday"
        return OrTrigger([CronTrigger(day=day, **common), CronTrigger(day_of_week=days, **common)])
    return CronTrigger(day=day, day_of_week=days, **common)


def retrain_trigger(settings: BotSettings) -> BaseTrigger | None:
    """The trigger for scheduled retrains, or None when SEGBOT_RETRAIN_CRON is not set.
    A bad cron or timezone is a one-line error naming the setting, raised at start."""
    tz = timezone_of(settings)
    every = os.environ.get(TEST_EVERY_ENV, "").strip()
    if every:
        try:
            seconds = float(every)
        except ValueError:
            raise SegbotError(f"{TEST_EVERY_ENV}={every!r} is not a number of seconds") from None
        log.warning(
            "%s=%s: retraining every %s s instead of the cron", TEST_EVERY_ENV, every, every
        )
        return IntervalTrigger(seconds=seconds, timezone=tz)
    expression = (settings.retrain_cron or "").strip()
    if not expression:
        return None
    try:
        return cron_trigger(expression, tz)
    except ValueError as exc:
        raise SegbotError(
            f"SEGBOT_RETRAIN_CRON={expression!r} is not a valid cron expression ({exc}); "
            f"use {CRON_HELP}"
        ) from None


# ---- one slot, one run, across processes ----------------------------------------------------
def claim_slot(root: Path, slot: datetime) -> bool:
    """True if this process is the first to run the scheduled slot `slot`."""
    path = root / SLOT_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / SLOT_LOCK), timeout=10):
            try:
                last = datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
            except (FileNotFoundError, ValueError):
                last = None
            if last is not None and last >= slot:
                return False
            write_atomic(path, slot.isoformat().encode())
            return True
    except (Timeout, OSError) as exc:
        # Better a duplicate announcement than a missed retrain.
        log.warning("could not claim the scheduled run of %s (%s); running it anyway", slot, exc)
        return True


# ---- the background work ------------------------------------------------------------------
class Schedule:
    """Scheduled retrains (when there is a trigger) and the watch on the served version."""

    def __init__(
        self,
        service: SegmentService,
        announcer: Announcer,
        trigger: BaseTrigger | None,
        *,
        watch_every: float = WATCH_EVERY,
    ):
        self.service = service
        self.announcer = announcer
        self.trigger = trigger
        self.watch_every = watch_every
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._watcher = threading.Thread(target=self._watch, name="segbot-watch", daemon=True)
        self._watcher.start()
        if self.trigger is None:
            log.info("scheduled retrains are off (SEGBOT_RETRAIN_CRON is not set)")
            return
        # The log lines about retrains come from here; APScheduler's own ("Added job",
        # "Running job") would only repeat them. Its warnings (missed or skipped runs)
        # still show.
        for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
            logging.getLogger(name).setLevel(logging.WARNING)
        scheduler = BackgroundScheduler(timezone=timezone_of(self.service.settings))
        scheduler.add_job(
            self.run_retrain,
            self.trigger,
            id="retrain",
            name="scheduled retrain",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "scheduled retrains: %s; next at %s; announcements in %s",
            self.service.settings.retrain_cron or self.trigger,
            self.next_run,
            self.announcer.where,
        )

    def stop(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    @property
    def next_run(self) -> datetime | None:
        job = self._scheduler.get_job("retrain") if self._scheduler else None
        return job.next_run_time if job is not None else None

    # ---- jobs ----------------------------------------------------------------------------------
    def slot(self, now: datetime | None = None) -> datetime | None:
        """The fire time this run belongs to: the trigger's latest one not after now."""
        if self.trigger is None:
            return None
        now = now or datetime.now(timezone_of(self.service.settings))
        fire = self.trigger.get_next_fire_time(None, now - timedelta(seconds=MISFIRE_GRACE))
        latest = None
        while fire is not None and fire <= now:
            latest = fire
            fire = self.trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return latest

    def run_retrain(self, slot: datetime | None = None) -> None:
        """One scheduled retrain, announced. Never raises: the scheduler keeps going."""
        slot = slot or self.slot()
        root = self.service.registry.root
        if slot is not None and not claim_slot(root, slot):
            log.info("scheduled retrain of %s: another segbot process has run it", slot)
            return
        log.info("scheduled retrain: starting")
        try:
            result = self.service.retrain(progress=_log_progress)
        except RetrainInProgress as exc:
            log.info("scheduled retrain skipped: %s", exc)
            return
        except Exception as exc:
            if isinstance(exc, SegbotError):
                log.error("scheduled retrain failed: %s", exc)
            else:
                log.exception("scheduled retrain failed")
            self.announcer.failed(exc, self.service.registry.served())
            return
        log.info(
            "scheduled retrain: %s",
            "no new data"
            if result.unchanged_data
            else f"{result.version.version} {'served' if result.served else 'held back'}",
        )
        self.announcer.retrained(result)

    def _watch(self) -> None:
        """Pick up another process's switch; quiet unless that keeps failing."""
        failing = ""
        while not self._stop.wait(self.watch_every):
            try:
                self.service.refresh()
                failing = ""
            except Exception as exc:
                if repr(exc) != failing:
                    log.warning("could not load the version another process serves: %s", exc)
                failing = repr(exc)


def _log_progress(stage: str, fraction: float) -> None:
    log.debug("scheduled retrain: %s (%.0f%%)", stage, fraction * 100)
