"""Importing this package registers every agent on the app."""
from streams.agents import assemble, attribute, state, watchdog  # noqa: F401
