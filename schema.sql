-- tpsd schema. Embedded into the binary at build time (storage/db.c).
--
-- The file is a sequence of migration steps, each starting with a line
-- "-- migrate: N". A new database runs every step; a database at
-- user_version K runs the steps after K. Each step and its user_version
-- commit in one IMMEDIATE transaction. Never edit a step that has shipped:
-- append a new one.
--
-- Times: *_at columns are Unix milliseconds (wall clock). Sample timings are
-- microsecond offsets from the moment the request was handed to the socket
-- (t_sent), all taken on the client's monotonic clock.

-- migrate: 1
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL DEFAULT '',
    kind            TEXT    NOT NULL DEFAULT 'benchmark'
                            CHECK (kind IN ('benchmark', 'stability')),
    spec            TEXT    NOT NULL,              -- the normalised job spec, JSON
    state           TEXT    NOT NULL DEFAULT 'queued'
                            CHECK (state IN ('queued', 'running', 'succeeded', 'failed',
                                             'cancelled', 'interrupted')),
    priority        INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    updated_at      INTEGER NOT NULL,
    error_code      TEXT,
    error_detail    TEXT,
    idem_key        TEXT UNIQUE,
    idem_hash       TEXT
);
CREATE INDEX jobs_state ON jobs (state, priority DESC, id);

-- One job x one model.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    model_index     INTEGER NOT NULL,
    model           TEXT    NOT NULL,              -- the key as asked for, opaque
    model_served    TEXT,                          -- the identifier the server answered with
    suite           TEXT    NOT NULL DEFAULT '',
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
                                             'cancelled', 'interrupted')),
    backend         TEXT,
    backend_version TEXT,
    server_version  TEXT,
    model_format    TEXT,
    model_quant     TEXT,
    model_size_bytes INTEGER,
    context_length  INTEGER,
    load_ms         REAL,                          -- wall clock of the load command
    load_ready_ms   REAL,                          -- until the server listed the model
    host            TEXT,                          -- JSON: os, cpu, memory
    tpsd_version    TEXT,
    fingerprint     TEXT,                          -- like-with-like key for trends
    params          TEXT,                          -- JSON: sampling, load pattern, api
    started_at      INTEGER,
    finished_at     INTEGER,
    error_code      TEXT,
    error_detail    TEXT,
    UNIQUE (job_id, model_index)
);
CREATE INDEX runs_model ON runs (model, started_at);

-- One measured request. seq is its place in the run's plan, so a resumed
-- run skips what it already measured and never stores a request twice.
CREATE TABLE samples (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    case_name       TEXT    NOT NULL,
    repetition      INTEGER NOT NULL,
    slot            INTEGER NOT NULL DEFAULT 0,    -- concurrency slot
    warmup          INTEGER NOT NULL DEFAULT 0,
    started_at      INTEGER NOT NULL,              -- wall clock of t_sent
    sched_delay_us  INTEGER,                       -- t_sent - scheduled send (rate loads)
    ttfb_us         INTEGER,                       -- first byte of the response
    ttfr_us         INTEGER,                       -- first SSE event of any kind
    ttft_us         INTEGER,                       -- first generated text
    t_last_us       INTEGER,                       -- last generated text
    t_done_us       INTEGER,                       -- end of stream
    prompt_tokens   INTEGER,
    completion_tokens INTEGER,
    reasoning_tokens INTEGER,
    tokens_estimated INTEGER NOT NULL DEFAULT 0,
    n_events        INTEGER,                       -- content-bearing SSE events
    ttft_ms         REAL,
    decode_tps      REAL,
    e2e_tps         REAL,
    prompt_tps      REAL,
    tpot_ms         REAL,
    itl_p50_ms      REAL,
    itl_p90_ms      REAL,
    itl_p99_ms      REAL,
    itl_max_ms      REAL,
    e2e_ms          REAL,
    finish_reason   TEXT,
    ok              INTEGER NOT NULL,
    passed          INTEGER,                       -- validators; NULL when none ran
    error_code      TEXT,
    error_detail    TEXT,
    server_stats    TEXT,                          -- JSON, as the server reported
    event_us        BLOB,                          -- uint32 LE offsets of every event
    UNIQUE (run_id, seq)
);
CREATE INDEX samples_run ON samples (run_id, case_name);

-- Progress events, kept so an SSE client can resume with Last-Event-ID.
CREATE TABLE job_events (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    type            TEXT    NOT NULL,
    data            TEXT    NOT NULL               -- JSON
);
CREATE INDEX job_events_job ON job_events (job_id, id);

-- migrate: 2
-- Long runs: host and server memory, swap, load, thermal state over time.
CREATE TABLE system_samples (
    id              INTEGER PRIMARY KEY,
    job_id          INTEGER REFERENCES jobs (id) ON DELETE CASCADE,
    run_id          INTEGER REFERENCES runs (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    mem_total_bytes INTEGER,
    mem_avail_bytes INTEGER,
    swap_used_bytes INTEGER,
    mem_pressure    REAL,                          -- 0..1, where the OS tells it
    server_rss_bytes INTEGER,
    cpu_load1       REAL,
    thermal         TEXT
);
CREATE INDEX system_samples_job ON system_samples (job_id, at);

-- Trend queries: by model and case over time, successful samples only.
CREATE INDEX samples_trend ON samples (case_name, started_at) WHERE ok = 1 AND warmup = 0;
