"""Importing this package registers every agent on the app (attribution only where inference is on)."""
from streams.agents import assemble, counts, state, watchdog  # noqa: F401
from streams.app import settings

if settings.inference_enabled:
    from streams.agents import attribute  # noqa: F401
