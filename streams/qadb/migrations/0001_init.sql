-- The QA database's first schema: one table per output topic, each keyed as consumers de-duplicate
-- (idempotency_key; human labels by call_id, the latest on the topic wins), so a redelivered record changes nothing.
-- Times are timestamptz (the records' epoch milliseconds); kafka_partition/kafka_offset say where a row came from.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE attributions (
    idempotency_key  text PRIMARY KEY,
    call_id          text NOT NULL,
    user_id          text NOT NULL,
    task             text NOT NULL,
    final            boolean NOT NULL,
    label_id         text NOT NULL,
    label_name       text NOT NULL,
    score            double precision NOT NULL,
    margin           double precision NOT NULL,
    top_k            jsonb NOT NULL,
    candidates       integer NOT NULL,
    candidate_source text NOT NULL,
    account_known    boolean NOT NULL,
    segment_count    integer NOT NULL,
    alerts_withheld  text,
    model_version    text NOT NULL,
    template_version text NOT NULL,
    timings_ms       jsonb NOT NULL,
    produced_at      timestamptz NOT NULL,
    -- A final one: whether it is the newest of its call and task (a call attributed again by a new model version
    -- has a final row per version; the sink moves this mark when it stores a newer one).
    current          boolean NOT NULL DEFAULT false,
    kafka_partition  integer NOT NULL,
    kafka_offset     bigint NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now()
);
-- QA asks about final attributions: by period, by label, by call. Provisional ones are progress reports.
CREATE INDEX attributions_final_time ON attributions (produced_at) WHERE final AND current;
CREATE INDEX attributions_final_label ON attributions (task, label_id, produced_at) WHERE final AND current;
CREATE INDEX attributions_call ON attributions (call_id, task);

-- What QA queries: a call's final attribution per task, of the newest model that attributed it.
CREATE VIEW final_attributions AS
SELECT * FROM attributions WHERE final AND current;

CREATE TABLE alerts (
    idempotency_key text PRIMARY KEY,
    alert_id        text NOT NULL,
    kind            text NOT NULL,  -- complaint, review, forbidden_phrase
    call_id         text NOT NULL,
    user_id         text NOT NULL,
    task            text,
    label_id        text,
    label_name      text,
    score           double precision,
    margin          double precision,
    rule_id         text,
    rule_name       text,
    severity        text,
    phrase          text,
    seq             integer,
    reason          text NOT NULL,
    model_version   text,
    produced_at     timestamptz NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_time ON alerts (produced_at);
CREATE INDEX alerts_kind_time ON alerts (kind, produced_at);
CREATE INDEX alerts_call ON alerts (call_id);
CREATE INDEX alerts_label ON alerts (label_id, produced_at) WHERE label_id IS NOT NULL;
CREATE INDEX alerts_rule ON alerts (rule_id, produced_at) WHERE rule_id IS NOT NULL;

-- The scorecard as sent (rules, talk and attributions as JSONB), and one row per rule result in scorecard_rules:
-- "how often did agent X fail rule Y last week" is an indexed GROUP BY there, without unpacking JSON.
CREATE TABLE scorecards (
    idempotency_key text PRIMARY KEY,
    call_id         text NOT NULL,
    user_id         text NOT NULL,
    agent_id        text,
    score           double precision NOT NULL,
    critical_failed boolean NOT NULL,
    rules           jsonb NOT NULL,
    talk            jsonb NOT NULL,
    attributions    jsonb NOT NULL,
    segment_count   integer NOT NULL,
    started_at      timestamptz,
    model_version   text NOT NULL,
    produced_at     timestamptz NOT NULL,
    call_time       timestamptz NOT NULL,  -- started_at where the call start said, else produced_at
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scorecards_time ON scorecards (call_time);
CREATE INDEX scorecards_agent ON scorecards (agent_id, call_time);
CREATE INDEX scorecards_call ON scorecards (call_id);

CREATE TABLE scorecard_rules (
    scorecard_key text NOT NULL REFERENCES scorecards (idempotency_key) ON DELETE CASCADE,
    position      integer NOT NULL,  -- in the scorecard's list
    call_id       text NOT NULL,
    agent_id      text,
    call_time     timestamptz NOT NULL,
    rule_id       text NOT NULL,
    name          text NOT NULL,
    kind          text NOT NULL,
    severity      text NOT NULL,
    weight        double precision NOT NULL,
    outcome       text NOT NULL,  -- pass, fail, n/a
    seq           integer,
    detail        text NOT NULL,
    PRIMARY KEY (scorecard_key, position)
);
CREATE INDEX scorecard_rules_rule ON scorecard_rules (rule_id, outcome, call_time);
CREATE INDEX scorecard_rules_agent ON scorecard_rules (agent_id, call_time);

CREATE TABLE pseudo_labels (
    idempotency_key   text PRIMARY KEY,
    call_id           text NOT NULL,
    user_id           text NOT NULL,
    context_text      text NOT NULL,
    summary_sentences jsonb NOT NULL,
    summary           text NOT NULL,
    template_version  text NOT NULL,
    produced_at       timestamptz NOT NULL,
    kafka_partition   integer NOT NULL,
    kafka_offset      bigint NOT NULL,
    stored_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pseudo_labels_call ON pseudo_labels (call_id);
CREATE INDEX pseudo_labels_time ON pseudo_labels (produced_at);

-- Where each bad input is and why; the bytes stay on the dead-letter topic (and the whole input in its own).
CREATE TABLE dead_letters (
    idempotency_key  text PRIMARY KEY,  -- source_topic:source_partition:source_offset
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    reason           text NOT NULL,
    detail           text NOT NULL,
    key_bytes        integer,
    value_bytes      integer NOT NULL,
    produced_at      timestamptz NOT NULL,
    kafka_partition  integer NOT NULL,
    kafka_offset     bigint NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_time ON dead_letters (produced_at);
CREATE INDEX dead_letters_reason ON dead_letters (reason, produced_at);

-- The human spot checks: one row per call, the latest record on the topic (kafka_partition/kafka_offset guard the
-- upsert, so a redelivered older record changes nothing); a tombstone deletes the row.
CREATE TABLE human_labels (
    call_id         text PRIMARY KEY,
    labels          jsonb,  -- task -> label_id
    summary         text,
    annotator       text,
    event_time      timestamptz NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX human_labels_time ON human_labels (event_time);

-- A final call's generated-information vector per task and model version (filled by a later step). The column
-- takes its dimension from the first vector stored, or CALLQA_CALL_VECTOR_DIM (streams/qadb/store.py), which also
-- adds the HNSW index for cosine search then: pgvector indexes need a fixed dimension.
CREATE TABLE call_vectors (
    call_id       text NOT NULL,
    task          text NOT NULL,
    model_version text NOT NULL,
    vector        vector NOT NULL,
    produced_at   timestamptz NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, task, model_version)
);
CREATE INDEX call_vectors_time ON call_vectors (model_version, task, produced_at);
