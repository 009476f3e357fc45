"""The agents: I/O and acks only; what they do to each record is in streams.worker.steps."""
