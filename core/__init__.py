"""easy-oww core: the wake-word pipeline, free of any UI code.

Every long-running call takes ``report`` (a callable receiving events from
:mod:`core.events`) and ``cancel`` (a :class:`threading.Event`).
"""

__version__ = "0.1.0"
