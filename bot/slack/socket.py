"""Socket Mode: Slack pushes commands over a websocket, no public URL needed.

The connection URL comes from `apps.connections.open` on the App's own Web API
client, so SLACK_API_URL (GovSlack, a proxy, a test fake) applies here too.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.settings import BotSettings


def connect(app: App, settings: BotSettings) -> SocketModeHandler:
    handler = SocketModeHandler(app, app_token=settings.slack_app_token, web_client=app.client)
    handler.connect()
    return handler
