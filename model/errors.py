"""Errors the core raises. Each message is one line that names the problem, so
the CLI, the shell and Slack can show it as it is."""


class SegbotError(Exception):
    """Base of every error meant for a person to read."""


class DataError(SegbotError):
    """The data source cannot be used as it is (missing column, bad values...)."""


class NotFound(SegbotError):
    """A customer, segment, version or chart that does not exist."""


class NoModel(SegbotError):
    """Nothing is trained yet."""


class RetrainInProgress(SegbotError):
    """Another retrain (in this process or another one) is running."""


class InputError(SegbotError):
    """A value given by a person (a prospect's feature, a version name) is unusable."""
