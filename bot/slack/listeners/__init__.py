"""Bolt listeners, grouped by Slack surface; each group exposes `register`."""

from __future__ import annotations

from slack_bolt import App

from bot.router import Router
from bot.slack.listeners import commands
from bot.slack.work import SlowWork


def register_listeners(app: App, router: Router, slow: SlowWork) -> None:
    commands.register(app, router, slow)
