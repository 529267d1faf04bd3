"""The Slack adapter: a Bolt app over the command router, and how it runs."""
