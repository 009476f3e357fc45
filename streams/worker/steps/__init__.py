"""What the worker does to its records, one step per module, testable without Kafka: assembly (a call's state and
snapshot), batching, candidates (and the rendered requests), encoder (Triton), match, outputs (attribution, alert,
pseudo-label, health and label-count records)."""
