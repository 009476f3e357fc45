-- Call vectors as the worker publishes them (callqa.call_vector.v1), labels back-filled over them, and the agreement
-- of the model's final attributions with the human spot checks.
ALTER TABLE call_vectors
    ADD COLUMN user_id          text,
    ADD COLUMN snippet          text NOT NULL DEFAULT '',
    ADD COLUMN template_version text,
    ADD COLUMN call_time        timestamptz,  -- started_at where the call start said, else produced_at
    ADD COLUMN kafka_partition  integer,
    ADD COLUMN kafka_offset     bigint;
UPDATE call_vectors SET call_time = produced_at WHERE call_time IS NULL;
ALTER TABLE call_vectors ALTER COLUMN call_time SET NOT NULL;
CREATE INDEX call_vectors_call_time ON call_vectors (model_version, task, call_time);

-- One row per label and model version: the label text its calls were scored against, and how that went. A label
-- whose text changes is scored again (its rows below replaced); a new model version's vectors get their own run.
CREATE TABLE label_backfills (
    label_id      text NOT NULL,
    model_version text NOT NULL,
    task          text NOT NULL,
    label_text    text NOT NULL,
    since         timestamptz NOT NULL,  -- the calls from then on were scored
    calls_scored  integer NOT NULL,
    calls_matched integer NOT NULL,
    seconds       double precision NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (label_id, model_version)
);

-- A past call the label would have won: its cosine with the label's vector is above the best score of the call's
-- final attribution among the other labels (and above CALLQA_BACKFILL_MIN_SCORE).
CREATE TABLE backfilled_attributions (
    label_id          text NOT NULL,
    model_version     text NOT NULL,
    call_id           text NOT NULL,
    task              text NOT NULL,
    score             double precision NOT NULL,
    previous_label_id text,
    previous_score    double precision,
    call_time         timestamptz NOT NULL,
    backfilled_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (label_id, model_version, call_id),
    FOREIGN KEY (label_id, model_version) REFERENCES label_backfills ON DELETE CASCADE
);
CREATE INDEX backfilled_attributions_label ON backfilled_attributions (label_id, model_version, score DESC);
CREATE INDEX backfilled_attributions_call ON backfilled_attributions (call_id);

-- Each human spot check (a task of a labelled call) next to the model's current final attribution of that call.
CREATE VIEW human_agreement AS
SELECT h.call_id, t.task, t.label_id AS human_label_id, f.label_id AS model_label_id, f.model_version,
       h.event_time, (t.label_id = f.label_id) AS agrees
FROM human_labels h
CROSS JOIN LATERAL jsonb_each_text(h.labels) AS t (task, label_id)
JOIN final_attributions f ON f.call_id = h.call_id AND f.task = t.task;
