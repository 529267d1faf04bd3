"""The bot's settings: the core's (`model.Settings`) and what only the bot reads:
Slack's tokens, who may do what and where, announcements, the retrain schedule and
the HTTP server. Names fixed by docs/interface.md §5; read from the environment and
`.env` like the core's, and flags override them: `BotSettings(**overrides)`.
"""

from __future__ import annotations

from pydantic import Field

from model import CommaList, Settings


class BotSettings(Settings):
    # Slack (secrets: never logged; repr hides them)
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN", repr=False)
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET", repr=False)
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN", repr=False)
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")

    # Who may do what, and where (Slack modes; the local operator may do everything)
    admins: CommaList = Field(default_factory=list, alias="SEGBOT_ADMINS")
    allowed_channels: CommaList = Field(default_factory=list, alias="SEGBOT_ALLOWED_CHANNELS")

    # Scheduled retrains and their announcements
    retrain_cron: str | None = Field(None, alias="SEGBOT_RETRAIN_CRON")
    timezone: str = Field("UTC", alias="SEGBOT_TIMEZONE")
    announce_channel: str | None = Field(None, alias="SEGBOT_ANNOUNCE_CHANNEL")
    announce_unchanged: bool = Field(True, alias="SEGBOT_ANNOUNCE_UNCHANGED")

    # HTTP mode
    port: int = Field(3000, alias="PORT")
    host: str = Field("0.0.0.0", alias="SEGBOT_HOST")  # 127.0.0.1 behind a proxy
