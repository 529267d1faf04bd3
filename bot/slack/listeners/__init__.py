"""Bolt listeners, grouped by Slack surface as in Slack's starter template; each group
exposes `register(app)`. Callbacks are top-level functions that find the router and
pools in `context` (bot.slack.context)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, events, shortcuts, views


def register_listeners(app: App) -> None:
    # Bolt tries listeners in registration order and each failed match costs a round of
    # argument injection: the most frequent requests (commands, then clicks) come first.
    # No two groups can match the same request, so the order changes nothing else.
    for group in (commands, actions, events, views, shortcuts):
        group.register(app)
