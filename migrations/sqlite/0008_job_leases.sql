-- The scheduler's lease on a fire: the scheduler that inserted the row for
-- (job, scheduled_for) runs it and renews lease_until while it does; a row
-- still 'running' after its lease ran out belonged to a scheduler that died,
-- and another may take it over (attempts counts the takeovers).
ALTER TABLE job_runs ADD COLUMN lease_until TEXT;
ALTER TABLE job_runs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
CREATE INDEX job_runs_started ON job_runs (started_at);
