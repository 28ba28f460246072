-- Efir 0005: the ingest farm. Worker nodes, the job queue with fenced
-- leases, and each job's attempts, steps and log lines. Times ending in
-- `_ms` are Unix milliseconds; `updated_ms` moves with every change, which
-- is what live dashboards follow.

-- A worker process. It registers at start and again after it finds itself
-- marked lost; a row is never reused by another process.
CREATE TABLE ingest_worker (
    id {{id}},
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    slots BIGINT NOT NULL,
    -- JSON: tools and versions, mounts, runnable pipelines.
    capabilities TEXT NOT NULL DEFAULT '{}',
    -- Pipelines it can run now (comma-separated); '' while a mount is
    -- missing, so it claims nothing.
    runnable TEXT NOT NULL DEFAULT '',
    mounts_ok BOOLEAN NOT NULL DEFAULT TRUE,
    mount_error TEXT,
    -- active, lost, stopped.
    state TEXT NOT NULL DEFAULT 'active',
    running BIGINT NOT NULL DEFAULT 0,
    registered_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    lost_ms BIGINT
);
CREATE INDEX ingest_worker_state ON ingest_worker (state, last_seen_ms);

CREATE TABLE ingest_job (
    id {{id}},
    -- The pipeline it runs (`noop` is built in).
    pipeline TEXT NOT NULL,
    -- JSON: input path, hot folder, options.
    payload TEXT NOT NULL DEFAULT '{}',
    -- Lower runs first.
    priority BIGINT NOT NULL DEFAULT 0,
    -- pending, running, succeeded, failed, cancelled, dead.
    state TEXT NOT NULL DEFAULT 'pending',
    -- Attempts started so far; the current lease is (id, attempt, worker_id).
    attempt BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 3,
    -- At most one pending or running job per key.
    unique_key TEXT,
    -- Not claimed before (scheduled time, retry back-off).
    run_at_ms BIGINT NOT NULL,
    worker_id BIGINT,
    lease_expires_ms BIGINT,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- What it is doing now (the step).
    activity TEXT NOT NULL DEFAULT '',
    -- JSON registered by the attempt that finished it.
    result TEXT,
    error TEXT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    dry_run BOOLEAN NOT NULL DEFAULT FALSE,
    import_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX ingest_job_updated ON ingest_job (updated_ms);
CREATE INDEX ingest_job_claim ON ingest_job (state, pipeline, priority, run_at_ms, id);
CREATE INDEX ingest_job_worker ON ingest_job (worker_id, state);
CREATE UNIQUE INDEX ingest_job_unique ON ingest_job (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');

-- One row per attempt: who ran it and how it ended.
CREATE TABLE ingest_attempt (
    id {{id}},
    job_id BIGINT NOT NULL REFERENCES ingest_job (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    worker_id BIGINT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    -- running, succeeded, failed, lost, cancelled.
    outcome TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    UNIQUE (job_id, attempt)
);

-- The steps of the attempt that finished a job, registered with it.
CREATE TABLE ingest_step (
    id {{id}},
    job_id BIGINT NOT NULL REFERENCES ingest_job (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    name TEXT NOT NULL,
    -- succeeded, failed, skipped.
    state TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL,
    -- JSON.
    output TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE INDEX ingest_step_job ON ingest_step (job_id, attempt, idx);

-- Log lines of jobs, written by workers under their lease.
CREATE TABLE ingest_log (
    id {{id}},
    job_id BIGINT NOT NULL REFERENCES ingest_job (id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX ingest_log_job ON ingest_log (job_id, id);
