"""The QA database: every output of the pipeline, queryable in PostgreSQL (pgvector for the call vectors).
migrate (numbered SQL files) -> store (records -> rows, upserts on idempotency_key) <- sink (the output topics, in
batches, offsets committed after each transaction); export (CSV) and compare (`callqa check`) read it.
Imports only streams.core below it (and psycopg, pgvector, confluent-kafka), so the dashboard may use it."""
