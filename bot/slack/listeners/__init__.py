"""Bolt listeners, grouped by Slack surface as in Slack's starter template; each group
exposes `register(app)`. Callbacks are top-level functions that find the router and
pools in `context` (bot.slack.context)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, shortcuts, views


def register_listeners(app: App) -> None:
    for group in (commands, events, actions, views, shortcuts):
        group.register(app)
