"""Exceptions the front ends show to the user as plain messages (never a traceback)."""


class EasyOWWError(Exception):
    """A problem the user can fix; ``str(err)`` names the problem and the fix."""


class ConfigError(EasyOWWError):
    """A project configuration that cannot be used."""


class AudioError(EasyOWWError):
    """An audio file that cannot be read or used."""


class ProjectError(EasyOWWError):
    """A project that is missing, exists already, or has an unsafe name."""


class Cancelled(EasyOWWError):
    """The user cancelled a long-running job; everything finished so far is kept."""

    def __init__(self, message: str = "Cancelled; finished work is kept. Run again to continue.") -> None:
        super().__init__(message)
