"""The service's answers as replies people read: Block Kit plus its plain-text fallback.

Pure functions, no I/O, one module per kind of reply; callers use `render.x(...)` and
see only the names below. Every string that comes from outside the code (what a user
typed, customer ids, column and segment names from the data) goes through `literal`,
so nothing can turn into `<!channel>`, a mention, a link or stray bold, and it reads
exactly as written in both forms.
"""

from bot.render.announcements import (
    announcement,
    announcement_failed,
    announcement_rollback,
    announcement_write_back_failed,
)
from bot.render.customers import customer, customers_found, predict
from bot.render.errors import (
    GENERIC_FAILURE,
    channel_not_allowed,
    error,
    help_reply,
    next_step,
    not_admin,
    not_understood,
    refusal,
    retrain_failed,
    usage,
    working,
)
from bot.render.files import CHART_TITLES, chart, chart_files, export, pointer
from bot.render.over_time import customer_history, day, flows, history_line, movers, trend
from bot.render.pieces import (
    MAX_BLOCKS,
    SECTION_LIMIT,
    bar,
    count,
    date,
    esc,
    number,
    quality_words,
    share,
    unescape,
)
from bot.render.segments import segment, summary, summary_text
from bot.render.versions import history, retrain_progress, retrain_result, rollback, unreadable_line

__all__ = [
    "CHART_TITLES",
    "GENERIC_FAILURE",
    "MAX_BLOCKS",
    "SECTION_LIMIT",
    "announcement",
    "announcement_failed",
    "announcement_rollback",
    "announcement_write_back_failed",
    "bar",
    "channel_not_allowed",
    "chart",
    "chart_files",
    "count",
    "customer",
    "customer_history",
    "customers_found",
    "date",
    "day",
    "error",
    "esc",
    "export",
    "flows",
    "help_reply",
    "history",
    "history_line",
    "movers",
    "next_step",
    "not_admin",
    "not_understood",
    "number",
    "pointer",
    "predict",
    "quality_words",
    "refusal",
    "retrain_failed",
    "retrain_progress",
    "retrain_result",
    "rollback",
    "segment",
    "share",
    "summary",
    "summary_text",
    "trend",
    "unescape",
    "unreadable_line",
    "usage",
    "working",
]
