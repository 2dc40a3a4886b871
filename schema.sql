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

-- migrate: 3
-- History (storage/history.c): one rollup row per (run, case), kept current by
-- a trigger as each sample is stored, so trends, the leaderboard and the
-- regression test never rescan raw samples. Per figure: n, sum, sum of
-- squares, min, max of the successful non-warm-up samples, and p50/p90
-- (stats.h's type-7 percentiles) recomputed from that run-case's samples on
-- each insert while it holds at most 2000 samples, then every 1000th.
-- pass counts follow summary.c: passed = ok and validators not false.
CREATE TABLE history_rollup (
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    case_name       TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    fingerprint     TEXT,
    series          TEXT    NOT NULL,              -- fingerprint, or model when none
    suite           TEXT    NOT NULL DEFAULT '',
    at              INTEGER NOT NULL,              -- started_at of its first sample
    n               INTEGER NOT NULL,              -- requests (not warm-ups)
    n_ok            INTEGER NOT NULL,
    n_passed        INTEGER NOT NULL,
    decode_tps_n INTEGER NOT NULL DEFAULT 0,
    decode_tps_sum REAL,
    decode_tps_sumsq REAL,
    decode_tps_min REAL,
    decode_tps_max REAL,
    decode_tps_p50 REAL,
    decode_tps_p90 REAL,
    e2e_tps_n INTEGER NOT NULL DEFAULT 0,
    e2e_tps_sum REAL,
    e2e_tps_sumsq REAL,
    e2e_tps_min REAL,
    e2e_tps_max REAL,
    e2e_tps_p50 REAL,
    e2e_tps_p90 REAL,
    ttft_ms_n INTEGER NOT NULL DEFAULT 0,
    ttft_ms_sum REAL,
    ttft_ms_sumsq REAL,
    ttft_ms_min REAL,
    ttft_ms_max REAL,
    ttft_ms_p50 REAL,
    ttft_ms_p90 REAL,
    prompt_tps_n INTEGER NOT NULL DEFAULT 0,
    prompt_tps_sum REAL,
    prompt_tps_sumsq REAL,
    prompt_tps_min REAL,
    prompt_tps_max REAL,
    prompt_tps_p50 REAL,
    prompt_tps_p90 REAL,
    PRIMARY KEY (run_id, case_name)
) WITHOUT ROWID;
CREATE INDEX history_rollup_model ON history_rollup (model, case_name, at);
CREATE INDEX history_rollup_at ON history_rollup (at);
CREATE INDEX history_rollup_series ON history_rollup (series, case_name, at);

-- A counter bumped by every stored sample and every run update: the ETag of
-- the history endpoints, the same on every connection.
CREATE TABLE history_version (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    v               INTEGER NOT NULL
);
INSERT INTO history_version (id, v) VALUES (1, 1);

-- Regression verdicts: the newest run of a series against its trailing
-- window (daemon/regress.h). One row per (run, case, metric) tested.
CREATE TABLE history_verdicts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    series          TEXT    NOT NULL,              -- fingerprint, or model when none
    model           TEXT    NOT NULL,
    case_name       TEXT    NOT NULL,
    metric          TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    value           REAL    NOT NULL,              -- the run's median
    baseline        REAL    NOT NULL,              -- mean of the window
    sigma           REAL    NOT NULL,
    t               REAL    NOT NULL,
    change          REAL    NOT NULL,              -- (value - baseline) / baseline
    win             INTEGER NOT NULL,              -- runs in the window
    verdict         TEXT    NOT NULL CHECK (verdict IN ('regression', 'improvement', 'none')),
    created_at      INTEGER NOT NULL,
    UNIQUE (run_id, case_name, metric)
);
CREATE INDEX history_verdicts_at ON history_verdicts (verdict, at);

-- Runs up to this id have been tested for regressions.
CREATE TABLE history_scan (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    run_id          INTEGER NOT NULL
);
INSERT INTO history_scan (id, run_id) VALUES (1, 0);

-- Backfill from the samples stored so far.
INSERT INTO history_rollup (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_sumsq, decode_tps_min, decode_tps_max, e2e_tps_n, e2e_tps_sum, e2e_tps_sumsq, e2e_tps_min, e2e_tps_max, ttft_ms_n, ttft_ms_sum, ttft_ms_sumsq, ttft_ms_min, ttft_ms_max, prompt_tps_n, prompt_tps_sum, prompt_tps_sumsq, prompt_tps_min, prompt_tps_max)
SELECT s.run_id,
       s.case_name,
       r.model,
       r.fingerprint,
       coalesce(r.fingerprint, r.model),
       r.suite,
       min(s.started_at),
       count(*),
       sum(s.ok),
       sum(s.ok = 1 AND coalesce(s.passed, 1) != 0),
       count(CASE WHEN s.ok = 1 THEN s.decode_tps END),
       sum(CASE WHEN s.ok = 1 THEN s.decode_tps END),
       sum((CASE WHEN s.ok = 1 THEN s.decode_tps END) * (CASE WHEN s.ok = 1 THEN s.decode_tps END)),
       min(CASE WHEN s.ok = 1 THEN s.decode_tps END),
       max(CASE WHEN s.ok = 1 THEN s.decode_tps END),
       count(CASE WHEN s.ok = 1 THEN s.e2e_tps END),
       sum(CASE WHEN s.ok = 1 THEN s.e2e_tps END),
       sum((CASE WHEN s.ok = 1 THEN s.e2e_tps END) * (CASE WHEN s.ok = 1 THEN s.e2e_tps END)),
       min(CASE WHEN s.ok = 1 THEN s.e2e_tps END),
       max(CASE WHEN s.ok = 1 THEN s.e2e_tps END),
       count(CASE WHEN s.ok = 1 THEN s.ttft_ms END),
       sum(CASE WHEN s.ok = 1 THEN s.ttft_ms END),
       sum((CASE WHEN s.ok = 1 THEN s.ttft_ms END) * (CASE WHEN s.ok = 1 THEN s.ttft_ms END)),
       min(CASE WHEN s.ok = 1 THEN s.ttft_ms END),
       max(CASE WHEN s.ok = 1 THEN s.ttft_ms END),
       count(CASE WHEN s.ok = 1 THEN s.prompt_tps END),
       sum(CASE WHEN s.ok = 1 THEN s.prompt_tps END),
       sum((CASE WHEN s.ok = 1 THEN s.prompt_tps END) * (CASE WHEN s.ok = 1 THEN s.prompt_tps END)),
       min(CASE WHEN s.ok = 1 THEN s.prompt_tps END),
       max(CASE WHEN s.ok = 1 THEN s.prompt_tps END)
FROM samples s JOIN runs r ON r.id = s.run_id
WHERE s.warmup = 0
GROUP BY s.run_id, s.case_name;
UPDATE history_rollup SET
    decode_tps_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.decode_tps AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.decode_tps IS NOT NULL))))),
    decode_tps_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.decode_tps AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.decode_tps IS NOT NULL))))),
    e2e_tps_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.e2e_tps AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.e2e_tps IS NOT NULL))))),
    e2e_tps_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.e2e_tps AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.e2e_tps IS NOT NULL))))),
    ttft_ms_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.ttft_ms AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.ttft_ms IS NOT NULL))))),
    ttft_ms_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.ttft_ms AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.ttft_ms IS NOT NULL))))),
    prompt_tps_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.prompt_tps AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.prompt_tps IS NOT NULL))))),
    prompt_tps_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.prompt_tps AS v FROM samples s
                      WHERE s.run_id = history_rollup.run_id AND s.case_name = history_rollup.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.prompt_tps IS NOT NULL)))));
CREATE TRIGGER history_rollup_ingest AFTER INSERT ON samples WHEN NEW.warmup = 0
BEGIN
    INSERT INTO history_rollup (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_sumsq, decode_tps_min, decode_tps_max, e2e_tps_n, e2e_tps_sum, e2e_tps_sumsq, e2e_tps_min, e2e_tps_max, ttft_ms_n, ttft_ms_sum, ttft_ms_sumsq, ttft_ms_min, ttft_ms_max, prompt_tps_n, prompt_tps_sum, prompt_tps_sumsq, prompt_tps_min, prompt_tps_max)
    SELECT NEW.run_id,
           NEW.case_name,
           r.model,
           r.fingerprint,
           coalesce(r.fingerprint, r.model),
           r.suite,
           NEW.started_at,
           1,
           NEW.ok = 1,
           NEW.ok = 1 AND coalesce(NEW.passed, 1) != 0,
           (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END) * (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END),
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END) * (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END),
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END) * (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END),
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END) * (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END),
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END
    FROM runs r WHERE r.id = NEW.run_id
    ON CONFLICT (run_id, case_name) DO UPDATE SET
        n = n + 1,
        n_ok = n_ok + excluded.n_ok,
        n_passed = n_passed + excluded.n_passed,
        at = min(at, excluded.at),
        decode_tps_n = decode_tps_n + excluded.decode_tps_n,
        decode_tps_sum = coalesce(decode_tps_sum + excluded.decode_tps_sum, decode_tps_sum, excluded.decode_tps_sum),
        decode_tps_sumsq = coalesce(decode_tps_sumsq + excluded.decode_tps_sumsq, decode_tps_sumsq, excluded.decode_tps_sumsq),
        decode_tps_min = coalesce(min(decode_tps_min, excluded.decode_tps_min), decode_tps_min, excluded.decode_tps_min),
        decode_tps_max = coalesce(max(decode_tps_max, excluded.decode_tps_max), decode_tps_max, excluded.decode_tps_max),
        e2e_tps_n = e2e_tps_n + excluded.e2e_tps_n,
        e2e_tps_sum = coalesce(e2e_tps_sum + excluded.e2e_tps_sum, e2e_tps_sum, excluded.e2e_tps_sum),
        e2e_tps_sumsq = coalesce(e2e_tps_sumsq + excluded.e2e_tps_sumsq, e2e_tps_sumsq, excluded.e2e_tps_sumsq),
        e2e_tps_min = coalesce(min(e2e_tps_min, excluded.e2e_tps_min), e2e_tps_min, excluded.e2e_tps_min),
        e2e_tps_max = coalesce(max(e2e_tps_max, excluded.e2e_tps_max), e2e_tps_max, excluded.e2e_tps_max),
        ttft_ms_n = ttft_ms_n + excluded.ttft_ms_n,
        ttft_ms_sum = coalesce(ttft_ms_sum + excluded.ttft_ms_sum, ttft_ms_sum, excluded.ttft_ms_sum),
        ttft_ms_sumsq = coalesce(ttft_ms_sumsq + excluded.ttft_ms_sumsq, ttft_ms_sumsq, excluded.ttft_ms_sumsq),
        ttft_ms_min = coalesce(min(ttft_ms_min, excluded.ttft_ms_min), ttft_ms_min, excluded.ttft_ms_min),
        ttft_ms_max = coalesce(max(ttft_ms_max, excluded.ttft_ms_max), ttft_ms_max, excluded.ttft_ms_max),
        prompt_tps_n = prompt_tps_n + excluded.prompt_tps_n,
        prompt_tps_sum = coalesce(prompt_tps_sum + excluded.prompt_tps_sum, prompt_tps_sum, excluded.prompt_tps_sum),
        prompt_tps_sumsq = coalesce(prompt_tps_sumsq + excluded.prompt_tps_sumsq, prompt_tps_sumsq, excluded.prompt_tps_sumsq),
        prompt_tps_min = coalesce(min(prompt_tps_min, excluded.prompt_tps_min), prompt_tps_min, excluded.prompt_tps_min),
        prompt_tps_max = coalesce(max(prompt_tps_max, excluded.prompt_tps_max), prompt_tps_max, excluded.prompt_tps_max);
    UPDATE history_rollup SET
        decode_tps_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.decode_tps AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.decode_tps IS NOT NULL))))),
        decode_tps_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.decode_tps AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.decode_tps IS NOT NULL))))),
        e2e_tps_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.e2e_tps AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.e2e_tps IS NOT NULL))))),
        e2e_tps_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.e2e_tps AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.e2e_tps IS NOT NULL))))),
        ttft_ms_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.ttft_ms AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.ttft_ms IS NOT NULL))))),
        ttft_ms_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.ttft_ms AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.ttft_ms IS NOT NULL))))),
        prompt_tps_p50 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.5 AS h
                FROM (SELECT s.prompt_tps AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.prompt_tps IS NOT NULL))))),
        prompt_tps_p90 = (SELECT lo + (h - fl) * (coalesce(hi, lo) - lo) FROM (
            SELECT max(h) AS h, max(fl) AS fl, max(CASE WHEN rk = fl THEN v END) AS lo,
                   max(CASE WHEN rk = fl + 1 THEN v END) AS hi
            FROM (SELECT v, rk, h, CAST(h AS INTEGER) AS fl FROM (
                SELECT v, row_number() OVER (ORDER BY v) - 1 AS rk,
                       (count(*) OVER () - 1) * 0.9 AS h
                FROM (SELECT s.prompt_tps AS v FROM samples s
                      WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
                        AND s.warmup = 0 AND s.ok = 1 AND s.prompt_tps IS NOT NULL)))))
    WHERE run_id = NEW.run_id AND case_name = NEW.case_name
      AND NEW.ok = 1 AND (n <= 2000 OR n % 1000 = 0);
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;

CREATE TRIGGER history_version_warmup AFTER INSERT ON samples WHEN NEW.warmup != 0
BEGIN
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER history_version_runs AFTER UPDATE ON runs
BEGIN
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER history_version_runs_ins AFTER INSERT ON runs
BEGIN
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER history_version_runs_del AFTER DELETE ON runs
BEGIN
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER history_rollup_facts AFTER UPDATE OF model, fingerprint, suite ON runs
BEGIN
    UPDATE history_rollup SET model = NEW.model, fingerprint = NEW.fingerprint,
        series = coalesce(NEW.fingerprint, NEW.model), suite = NEW.suite
    WHERE run_id = NEW.id;
END;

-- The leaderboard: per model its latest finished run with samples, and per
-- (model, case) the best finished run by mean e2e TPS. Kept by a trigger when
-- a run finishes (finished runs' rollups no longer change).
CREATE TABLE history_models (
    model           TEXT    PRIMARY KEY,
    latest_run_id   INTEGER NOT NULL,
    latest_at       INTEGER NOT NULL,
    runs            INTEGER NOT NULL
);
CREATE TABLE history_best (
    model           TEXT    NOT NULL,
    case_name       TEXT    NOT NULL,
    e2e_tps         REAL    NOT NULL,
    run_id          INTEGER NOT NULL,
    PRIMARY KEY (model, case_name)
) WITHOUT ROWID;
INSERT INTO history_models (model, latest_run_id, latest_at, runs)
SELECT model, max(run_id), max(at), count(DISTINCT run_id) FROM history_rollup
WHERE run_id IN (SELECT id FROM runs WHERE state NOT IN ('pending', 'running'))
GROUP BY model;
INSERT INTO history_best (model, case_name, e2e_tps, run_id)
SELECT model, case_name, max(e2e_tps_sum / e2e_tps_n), run_id FROM history_rollup
WHERE e2e_tps_n > 0 AND run_id IN (SELECT id FROM runs WHERE state NOT IN ('pending', 'running'))
GROUP BY model, case_name;
CREATE TRIGGER history_run_finished AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
     AND EXISTS (SELECT 1 FROM history_rollup WHERE run_id = NEW.id)
BEGIN
    INSERT INTO history_models (model, latest_run_id, latest_at, runs)
    SELECT NEW.model, NEW.id, (SELECT max(at) FROM history_rollup WHERE run_id = NEW.id), 1
    WHERE true
    ON CONFLICT (model) DO UPDATE SET runs = runs + 1,
        latest_run_id = CASE WHEN excluded.latest_at >= latest_at THEN excluded.latest_run_id
                             ELSE latest_run_id END,
        latest_at = max(latest_at, excluded.latest_at);
    INSERT INTO history_best (model, case_name, e2e_tps, run_id)
    SELECT model, case_name, e2e_tps_sum / e2e_tps_n, run_id FROM history_rollup
    WHERE run_id = NEW.id AND e2e_tps_n > 0
    ON CONFLICT (model, case_name) DO UPDATE SET e2e_tps = excluded.e2e_tps,
        run_id = excluded.run_id WHERE excluded.e2e_tps > history_best.e2e_tps;
END;

-- migrate: 4
-- Stability jobs (daemon/stability.h). A run's planned end is fixed the first
-- time its measuring begins (wall clock + duration_s), so a run resumed after
-- a restart ends on time. System samples also record the daemon's own RSS
-- and the hottest thermal zone's temperature.
ALTER TABLE runs ADD COLUMN planned_end_at INTEGER;
ALTER TABLE system_samples ADD COLUMN self_rss_bytes INTEGER;
ALTER TABLE system_samples ADD COLUMN temp_c REAL;
CREATE INDEX system_samples_run ON system_samples (run_id, at);
CREATE INDEX samples_run_started ON samples (run_id, started_at) WHERE warmup = 0;

-- migrate: 5
-- History at scale (bench/bench_history.c). The ingest trigger of step 3
-- recomputed eight percentiles with window functions on every sample, which
-- made storing a sample a hundred times slower than the sample itself; now
-- the tpsd_pct() aggregate (type-7 percentile, registered by
-- storage/history.c on every connection) computes each over the run-case's
-- samples (scalar subqueries: an UPDATE ... FROM would materialise a
-- temporary table per sample, four times slower). Each figure also
-- keeps Welford's M2 (sum of squared deviations from the mean), updated
-- per sample and merged with Chan's formula across rollups, so a standard
-- deviation no longer loses digits to sum-of-squares cancellation (the
-- _sumsq columns are no longer written). Regression verdicts are stored
-- for changes only.
ALTER TABLE history_rollup ADD COLUMN decode_tps_m2 REAL;
ALTER TABLE history_rollup ADD COLUMN e2e_tps_m2 REAL;
ALTER TABLE history_rollup ADD COLUMN ttft_ms_m2 REAL;
ALTER TABLE history_rollup ADD COLUMN prompt_tps_m2 REAL;
UPDATE history_rollup SET decode_tps_m2 = (
    SELECT sum((s.decode_tps - history_rollup.decode_tps_sum / history_rollup.decode_tps_n)
               * (s.decode_tps - history_rollup.decode_tps_sum / history_rollup.decode_tps_n))
    FROM samples s WHERE s.run_id = history_rollup.run_id
      AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1
      AND s.decode_tps IS NOT NULL) WHERE decode_tps_n > 0;
UPDATE history_rollup SET e2e_tps_m2 = (
    SELECT sum((s.e2e_tps - history_rollup.e2e_tps_sum / history_rollup.e2e_tps_n)
               * (s.e2e_tps - history_rollup.e2e_tps_sum / history_rollup.e2e_tps_n))
    FROM samples s WHERE s.run_id = history_rollup.run_id
      AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1
      AND s.e2e_tps IS NOT NULL) WHERE e2e_tps_n > 0;
UPDATE history_rollup SET ttft_ms_m2 = (
    SELECT sum((s.ttft_ms - history_rollup.ttft_ms_sum / history_rollup.ttft_ms_n)
               * (s.ttft_ms - history_rollup.ttft_ms_sum / history_rollup.ttft_ms_n))
    FROM samples s WHERE s.run_id = history_rollup.run_id
      AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1
      AND s.ttft_ms IS NOT NULL) WHERE ttft_ms_n > 0;
UPDATE history_rollup SET prompt_tps_m2 = (
    SELECT sum((s.prompt_tps - history_rollup.prompt_tps_sum / history_rollup.prompt_tps_n)
               * (s.prompt_tps - history_rollup.prompt_tps_sum / history_rollup.prompt_tps_n))
    FROM samples s WHERE s.run_id = history_rollup.run_id
      AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1
      AND s.prompt_tps IS NOT NULL) WHERE prompt_tps_n > 0;
DROP TRIGGER history_rollup_ingest;
CREATE TRIGGER history_rollup_ingest AFTER INSERT ON samples WHEN NEW.warmup = 0
BEGIN
    INSERT INTO history_rollup (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max)
    SELECT NEW.run_id,
           NEW.case_name,
           r.model,
           r.fingerprint,
           coalesce(r.fingerprint, r.model),
           r.suite,
           NEW.started_at,
           1,
           NEW.ok = 1,
           NEW.ok = 1 AND coalesce(NEW.passed, 1) != 0,
           (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.decode_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.e2e_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 AND NEW.ttft_ms IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.prompt_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END
    FROM runs r WHERE r.id = NEW.run_id
    ON CONFLICT (run_id, case_name) DO UPDATE SET
        n = n + 1,
        n_ok = n_ok + excluded.n_ok,
        n_passed = n_passed + excluded.n_passed,
        at = min(at, excluded.at),
        decode_tps_n = decode_tps_n + excluded.decode_tps_n,
        decode_tps_sum = coalesce(decode_tps_sum + excluded.decode_tps_sum, decode_tps_sum, excluded.decode_tps_sum),
        decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN decode_tps_m2 WHEN decode_tps_n = 0 THEN 0.0
            ELSE decode_tps_m2 + (excluded.decode_tps_sum - decode_tps_sum / decode_tps_n) * (excluded.decode_tps_sum - (decode_tps_sum + excluded.decode_tps_sum) / (decode_tps_n + 1)) END,
        decode_tps_min = coalesce(min(decode_tps_min, excluded.decode_tps_min), decode_tps_min, excluded.decode_tps_min),
        decode_tps_max = coalesce(max(decode_tps_max, excluded.decode_tps_max), decode_tps_max, excluded.decode_tps_max),
        e2e_tps_n = e2e_tps_n + excluded.e2e_tps_n,
        e2e_tps_sum = coalesce(e2e_tps_sum + excluded.e2e_tps_sum, e2e_tps_sum, excluded.e2e_tps_sum),
        e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN e2e_tps_m2 WHEN e2e_tps_n = 0 THEN 0.0
            ELSE e2e_tps_m2 + (excluded.e2e_tps_sum - e2e_tps_sum / e2e_tps_n) * (excluded.e2e_tps_sum - (e2e_tps_sum + excluded.e2e_tps_sum) / (e2e_tps_n + 1)) END,
        e2e_tps_min = coalesce(min(e2e_tps_min, excluded.e2e_tps_min), e2e_tps_min, excluded.e2e_tps_min),
        e2e_tps_max = coalesce(max(e2e_tps_max, excluded.e2e_tps_max), e2e_tps_max, excluded.e2e_tps_max),
        ttft_ms_n = ttft_ms_n + excluded.ttft_ms_n,
        ttft_ms_sum = coalesce(ttft_ms_sum + excluded.ttft_ms_sum, ttft_ms_sum, excluded.ttft_ms_sum),
        ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN ttft_ms_m2 WHEN ttft_ms_n = 0 THEN 0.0
            ELSE ttft_ms_m2 + (excluded.ttft_ms_sum - ttft_ms_sum / ttft_ms_n) * (excluded.ttft_ms_sum - (ttft_ms_sum + excluded.ttft_ms_sum) / (ttft_ms_n + 1)) END,
        ttft_ms_min = coalesce(min(ttft_ms_min, excluded.ttft_ms_min), ttft_ms_min, excluded.ttft_ms_min),
        ttft_ms_max = coalesce(max(ttft_ms_max, excluded.ttft_ms_max), ttft_ms_max, excluded.ttft_ms_max),
        prompt_tps_n = prompt_tps_n + excluded.prompt_tps_n,
        prompt_tps_sum = coalesce(prompt_tps_sum + excluded.prompt_tps_sum, prompt_tps_sum, excluded.prompt_tps_sum),
        prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN prompt_tps_m2 WHEN prompt_tps_n = 0 THEN 0.0
            ELSE prompt_tps_m2 + (excluded.prompt_tps_sum - prompt_tps_sum / prompt_tps_n) * (excluded.prompt_tps_sum - (prompt_tps_sum + excluded.prompt_tps_sum) / (prompt_tps_n + 1)) END,
        prompt_tps_min = coalesce(min(prompt_tps_min, excluded.prompt_tps_min), prompt_tps_min, excluded.prompt_tps_min),
        prompt_tps_max = coalesce(max(prompt_tps_max, excluded.prompt_tps_max), prompt_tps_max, excluded.prompt_tps_max);
    UPDATE history_rollup SET
        decode_tps_p50 = (SELECT tpsd_pct(s.decode_tps, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        decode_tps_p90 = (SELECT tpsd_pct(s.decode_tps, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p50 = (SELECT tpsd_pct(s.e2e_tps, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p90 = (SELECT tpsd_pct(s.e2e_tps, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p50 = (SELECT tpsd_pct(s.ttft_ms, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p90 = (SELECT tpsd_pct(s.ttft_ms, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p50 = (SELECT tpsd_pct(s.prompt_tps, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p90 = (SELECT tpsd_pct(s.prompt_tps, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1)
    WHERE run_id = NEW.run_id AND case_name = NEW.case_name
      AND NEW.ok = 1 AND (n <= 2000 OR n % 1000 = 0);
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
-- Past 2000 requests a run-case's percentiles are refreshed every 1000th;
-- when the run finishes they are made exact.
CREATE TRIGGER history_rollup_exact AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
BEGIN
    UPDATE history_rollup SET
        decode_tps_p50 = (SELECT tpsd_pct(s.decode_tps, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        decode_tps_p90 = (SELECT tpsd_pct(s.decode_tps, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p50 = (SELECT tpsd_pct(s.e2e_tps, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p90 = (SELECT tpsd_pct(s.e2e_tps, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p50 = (SELECT tpsd_pct(s.ttft_ms, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p90 = (SELECT tpsd_pct(s.ttft_ms, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p50 = (SELECT tpsd_pct(s.prompt_tps, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p90 = (SELECT tpsd_pct(s.prompt_tps, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1)
    WHERE run_id = NEW.id AND n > 2000;
END;
DELETE FROM history_verdicts WHERE verdict = 'none';
DROP INDEX history_verdicts_at;
CREATE INDEX history_verdicts_verdict ON history_verdicts (verdict, id);
-- Day and week trends over long histories read one row per (model, case,
-- suite, UTC day) instead of a rollup per run: history_daily merges the
-- rollups of every finished run (n, sums, Welford M2 by Chan's formula,
-- min, max; the per-run medians as float64 little-endian in _meds, for
-- the percentiles of a bucket holding several runs; p50/p90 of the run
-- when the day holds just one). A rollup is merged once, when its run
-- finishes (in_daily = 1); storage/history.c reads rollups not merged yet,
-- and those of partial days at the edges of a query, from history_rollup.
-- A day is that of the run-case's `at` (its first sample).
ALTER TABLE history_rollup ADD COLUMN in_daily INTEGER NOT NULL DEFAULT 0;
CREATE TABLE history_daily (
    model TEXT NOT NULL,
    case_name TEXT NOT NULL,
    suite TEXT NOT NULL,
    day INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    n INTEGER NOT NULL,
    n_passed INTEGER NOT NULL,
    decode_tps_n INTEGER NOT NULL,
    decode_tps_sum REAL,
    decode_tps_m2 REAL,
    decode_tps_min REAL,
    decode_tps_max REAL,
    decode_tps_p50 REAL,
    decode_tps_p90 REAL,
    decode_tps_meds BLOB,
    e2e_tps_n INTEGER NOT NULL,
    e2e_tps_sum REAL,
    e2e_tps_m2 REAL,
    e2e_tps_min REAL,
    e2e_tps_max REAL,
    e2e_tps_p50 REAL,
    e2e_tps_p90 REAL,
    e2e_tps_meds BLOB,
    ttft_ms_n INTEGER NOT NULL,
    ttft_ms_sum REAL,
    ttft_ms_m2 REAL,
    ttft_ms_min REAL,
    ttft_ms_max REAL,
    ttft_ms_p50 REAL,
    ttft_ms_p90 REAL,
    ttft_ms_meds BLOB,
    prompt_tps_n INTEGER NOT NULL,
    prompt_tps_sum REAL,
    prompt_tps_m2 REAL,
    prompt_tps_min REAL,
    prompt_tps_max REAL,
    prompt_tps_p50 REAL,
    prompt_tps_p90 REAL,
    prompt_tps_meds BLOB,
    PRIMARY KEY (model, case_name, day, suite)
) WITHOUT ROWID;
CREATE INDEX history_rollup_undaily ON history_rollup (at) WHERE in_daily = 0;
-- Backfill: the rollups of every finished run, in run order.
INSERT INTO history_daily (model, case_name, suite, day, runs, n, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, decode_tps_meds, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, e2e_tps_meds, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, ttft_ms_meds, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, prompt_tps_meds)
    SELECT model, case_name, suite, at - at % 86400000, 1, n, n_passed, decode_tps_n, decode_tps_sum, coalesce(decode_tps_m2, 0.0), decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, tpsd_f64(decode_tps_p50), e2e_tps_n, e2e_tps_sum, coalesce(e2e_tps_m2, 0.0), e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, tpsd_f64(e2e_tps_p50), ttft_ms_n, ttft_ms_sum, coalesce(ttft_ms_m2, 0.0), ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, tpsd_f64(ttft_ms_p50), prompt_tps_n, prompt_tps_sum, coalesce(prompt_tps_m2, 0.0), prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, tpsd_f64(prompt_tps_p50)
    FROM history_rollup WHERE in_daily = 0 AND run_id IN (SELECT id FROM runs WHERE state NOT IN ('pending', 'running'))
    ORDER BY run_id
    ON CONFLICT (model, case_name, day, suite) DO UPDATE SET
        runs = runs + excluded.runs,
        n = n + excluded.n,
        n_passed = n_passed + excluded.n_passed,
        decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN history_daily.decode_tps_m2 WHEN history_daily.decode_tps_n = 0 THEN excluded.decode_tps_m2
            ELSE history_daily.decode_tps_m2 + excluded.decode_tps_m2 + (excluded.decode_tps_sum / excluded.decode_tps_n - history_daily.decode_tps_sum / history_daily.decode_tps_n)
                 * (excluded.decode_tps_sum / excluded.decode_tps_n - history_daily.decode_tps_sum / history_daily.decode_tps_n) * history_daily.decode_tps_n * excluded.decode_tps_n / (history_daily.decode_tps_n + excluded.decode_tps_n) END,
        decode_tps_n = history_daily.decode_tps_n + excluded.decode_tps_n,
        decode_tps_sum = coalesce(history_daily.decode_tps_sum + excluded.decode_tps_sum, history_daily.decode_tps_sum, excluded.decode_tps_sum),
        decode_tps_min = coalesce(min(history_daily.decode_tps_min, excluded.decode_tps_min), history_daily.decode_tps_min, excluded.decode_tps_min),
        decode_tps_max = coalesce(max(history_daily.decode_tps_max, excluded.decode_tps_max), history_daily.decode_tps_max, excluded.decode_tps_max),
        decode_tps_meds = tpsd_cat(history_daily.decode_tps_meds, excluded.decode_tps_meds),
        e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN history_daily.e2e_tps_m2 WHEN history_daily.e2e_tps_n = 0 THEN excluded.e2e_tps_m2
            ELSE history_daily.e2e_tps_m2 + excluded.e2e_tps_m2 + (excluded.e2e_tps_sum / excluded.e2e_tps_n - history_daily.e2e_tps_sum / history_daily.e2e_tps_n)
                 * (excluded.e2e_tps_sum / excluded.e2e_tps_n - history_daily.e2e_tps_sum / history_daily.e2e_tps_n) * history_daily.e2e_tps_n * excluded.e2e_tps_n / (history_daily.e2e_tps_n + excluded.e2e_tps_n) END,
        e2e_tps_n = history_daily.e2e_tps_n + excluded.e2e_tps_n,
        e2e_tps_sum = coalesce(history_daily.e2e_tps_sum + excluded.e2e_tps_sum, history_daily.e2e_tps_sum, excluded.e2e_tps_sum),
        e2e_tps_min = coalesce(min(history_daily.e2e_tps_min, excluded.e2e_tps_min), history_daily.e2e_tps_min, excluded.e2e_tps_min),
        e2e_tps_max = coalesce(max(history_daily.e2e_tps_max, excluded.e2e_tps_max), history_daily.e2e_tps_max, excluded.e2e_tps_max),
        e2e_tps_meds = tpsd_cat(history_daily.e2e_tps_meds, excluded.e2e_tps_meds),
        ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN history_daily.ttft_ms_m2 WHEN history_daily.ttft_ms_n = 0 THEN excluded.ttft_ms_m2
            ELSE history_daily.ttft_ms_m2 + excluded.ttft_ms_m2 + (excluded.ttft_ms_sum / excluded.ttft_ms_n - history_daily.ttft_ms_sum / history_daily.ttft_ms_n)
                 * (excluded.ttft_ms_sum / excluded.ttft_ms_n - history_daily.ttft_ms_sum / history_daily.ttft_ms_n) * history_daily.ttft_ms_n * excluded.ttft_ms_n / (history_daily.ttft_ms_n + excluded.ttft_ms_n) END,
        ttft_ms_n = history_daily.ttft_ms_n + excluded.ttft_ms_n,
        ttft_ms_sum = coalesce(history_daily.ttft_ms_sum + excluded.ttft_ms_sum, history_daily.ttft_ms_sum, excluded.ttft_ms_sum),
        ttft_ms_min = coalesce(min(history_daily.ttft_ms_min, excluded.ttft_ms_min), history_daily.ttft_ms_min, excluded.ttft_ms_min),
        ttft_ms_max = coalesce(max(history_daily.ttft_ms_max, excluded.ttft_ms_max), history_daily.ttft_ms_max, excluded.ttft_ms_max),
        ttft_ms_meds = tpsd_cat(history_daily.ttft_ms_meds, excluded.ttft_ms_meds),
        prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN history_daily.prompt_tps_m2 WHEN history_daily.prompt_tps_n = 0 THEN excluded.prompt_tps_m2
            ELSE history_daily.prompt_tps_m2 + excluded.prompt_tps_m2 + (excluded.prompt_tps_sum / excluded.prompt_tps_n - history_daily.prompt_tps_sum / history_daily.prompt_tps_n)
                 * (excluded.prompt_tps_sum / excluded.prompt_tps_n - history_daily.prompt_tps_sum / history_daily.prompt_tps_n) * history_daily.prompt_tps_n * excluded.prompt_tps_n / (history_daily.prompt_tps_n + excluded.prompt_tps_n) END,
        prompt_tps_n = history_daily.prompt_tps_n + excluded.prompt_tps_n,
        prompt_tps_sum = coalesce(history_daily.prompt_tps_sum + excluded.prompt_tps_sum, history_daily.prompt_tps_sum, excluded.prompt_tps_sum),
        prompt_tps_min = coalesce(min(history_daily.prompt_tps_min, excluded.prompt_tps_min), history_daily.prompt_tps_min, excluded.prompt_tps_min),
        prompt_tps_max = coalesce(max(history_daily.prompt_tps_max, excluded.prompt_tps_max), history_daily.prompt_tps_max, excluded.prompt_tps_max),
        prompt_tps_meds = tpsd_cat(history_daily.prompt_tps_meds, excluded.prompt_tps_meds);
UPDATE history_rollup SET in_daily = 1 WHERE in_daily = 0
    AND run_id IN (SELECT id FROM runs WHERE state NOT IN ('pending', 'running'));
CREATE TRIGGER history_daily_merge AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
BEGIN
    INSERT INTO history_daily (model, case_name, suite, day, runs, n, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, decode_tps_meds, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, e2e_tps_meds, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, ttft_ms_meds, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, prompt_tps_meds)
        SELECT model, case_name, suite, at - at % 86400000, 1, n, n_passed, decode_tps_n, decode_tps_sum, coalesce(decode_tps_m2, 0.0), decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, tpsd_f64(decode_tps_p50), e2e_tps_n, e2e_tps_sum, coalesce(e2e_tps_m2, 0.0), e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, tpsd_f64(e2e_tps_p50), ttft_ms_n, ttft_ms_sum, coalesce(ttft_ms_m2, 0.0), ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, tpsd_f64(ttft_ms_p50), prompt_tps_n, prompt_tps_sum, coalesce(prompt_tps_m2, 0.0), prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, tpsd_f64(prompt_tps_p50)
        FROM history_rollup WHERE run_id = NEW.id AND in_daily = 0
        ON CONFLICT (model, case_name, day, suite) DO UPDATE SET
            runs = runs + excluded.runs,
            n = n + excluded.n,
            n_passed = n_passed + excluded.n_passed,
            decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN history_daily.decode_tps_m2 WHEN history_daily.decode_tps_n = 0 THEN excluded.decode_tps_m2
                ELSE history_daily.decode_tps_m2 + excluded.decode_tps_m2 + (excluded.decode_tps_sum / excluded.decode_tps_n - history_daily.decode_tps_sum / history_daily.decode_tps_n)
                     * (excluded.decode_tps_sum / excluded.decode_tps_n - history_daily.decode_tps_sum / history_daily.decode_tps_n) * history_daily.decode_tps_n * excluded.decode_tps_n / (history_daily.decode_tps_n + excluded.decode_tps_n) END,
            decode_tps_n = history_daily.decode_tps_n + excluded.decode_tps_n,
            decode_tps_sum = coalesce(history_daily.decode_tps_sum + excluded.decode_tps_sum, history_daily.decode_tps_sum, excluded.decode_tps_sum),
            decode_tps_min = coalesce(min(history_daily.decode_tps_min, excluded.decode_tps_min), history_daily.decode_tps_min, excluded.decode_tps_min),
            decode_tps_max = coalesce(max(history_daily.decode_tps_max, excluded.decode_tps_max), history_daily.decode_tps_max, excluded.decode_tps_max),
            decode_tps_meds = tpsd_cat(history_daily.decode_tps_meds, excluded.decode_tps_meds),
            e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN history_daily.e2e_tps_m2 WHEN history_daily.e2e_tps_n = 0 THEN excluded.e2e_tps_m2
                ELSE history_daily.e2e_tps_m2 + excluded.e2e_tps_m2 + (excluded.e2e_tps_sum / excluded.e2e_tps_n - history_daily.e2e_tps_sum / history_daily.e2e_tps_n)
                     * (excluded.e2e_tps_sum / excluded.e2e_tps_n - history_daily.e2e_tps_sum / history_daily.e2e_tps_n) * history_daily.e2e_tps_n * excluded.e2e_tps_n / (history_daily.e2e_tps_n + excluded.e2e_tps_n) END,
            e2e_tps_n = history_daily.e2e_tps_n + excluded.e2e_tps_n,
            e2e_tps_sum = coalesce(history_daily.e2e_tps_sum + excluded.e2e_tps_sum, history_daily.e2e_tps_sum, excluded.e2e_tps_sum),
            e2e_tps_min = coalesce(min(history_daily.e2e_tps_min, excluded.e2e_tps_min), history_daily.e2e_tps_min, excluded.e2e_tps_min),
            e2e_tps_max = coalesce(max(history_daily.e2e_tps_max, excluded.e2e_tps_max), history_daily.e2e_tps_max, excluded.e2e_tps_max),
            e2e_tps_meds = tpsd_cat(history_daily.e2e_tps_meds, excluded.e2e_tps_meds),
            ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN history_daily.ttft_ms_m2 WHEN history_daily.ttft_ms_n = 0 THEN excluded.ttft_ms_m2
                ELSE history_daily.ttft_ms_m2 + excluded.ttft_ms_m2 + (excluded.ttft_ms_sum / excluded.ttft_ms_n - history_daily.ttft_ms_sum / history_daily.ttft_ms_n)
                     * (excluded.ttft_ms_sum / excluded.ttft_ms_n - history_daily.ttft_ms_sum / history_daily.ttft_ms_n) * history_daily.ttft_ms_n * excluded.ttft_ms_n / (history_daily.ttft_ms_n + excluded.ttft_ms_n) END,
            ttft_ms_n = history_daily.ttft_ms_n + excluded.ttft_ms_n,
            ttft_ms_sum = coalesce(history_daily.ttft_ms_sum + excluded.ttft_ms_sum, history_daily.ttft_ms_sum, excluded.ttft_ms_sum),
            ttft_ms_min = coalesce(min(history_daily.ttft_ms_min, excluded.ttft_ms_min), history_daily.ttft_ms_min, excluded.ttft_ms_min),
            ttft_ms_max = coalesce(max(history_daily.ttft_ms_max, excluded.ttft_ms_max), history_daily.ttft_ms_max, excluded.ttft_ms_max),
            ttft_ms_meds = tpsd_cat(history_daily.ttft_ms_meds, excluded.ttft_ms_meds),
            prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN history_daily.prompt_tps_m2 WHEN history_daily.prompt_tps_n = 0 THEN excluded.prompt_tps_m2
                ELSE history_daily.prompt_tps_m2 + excluded.prompt_tps_m2 + (excluded.prompt_tps_sum / excluded.prompt_tps_n - history_daily.prompt_tps_sum / history_daily.prompt_tps_n)
                     * (excluded.prompt_tps_sum / excluded.prompt_tps_n - history_daily.prompt_tps_sum / history_daily.prompt_tps_n) * history_daily.prompt_tps_n * excluded.prompt_tps_n / (history_daily.prompt_tps_n + excluded.prompt_tps_n) END,
            prompt_tps_n = history_daily.prompt_tps_n + excluded.prompt_tps_n,
            prompt_tps_sum = coalesce(history_daily.prompt_tps_sum + excluded.prompt_tps_sum, history_daily.prompt_tps_sum, excluded.prompt_tps_sum),
            prompt_tps_min = coalesce(min(history_daily.prompt_tps_min, excluded.prompt_tps_min), history_daily.prompt_tps_min, excluded.prompt_tps_min),
            prompt_tps_max = coalesce(max(history_daily.prompt_tps_max, excluded.prompt_tps_max), history_daily.prompt_tps_max, excluded.prompt_tps_max),
            prompt_tps_meds = tpsd_cat(history_daily.prompt_tps_meds, excluded.prompt_tps_meds);
    UPDATE history_rollup SET in_daily = 1 WHERE run_id = NEW.id AND in_daily = 0;
END;
-- load_ms trends read this index only.
CREATE INDEX runs_load ON runs (model, started_at, load_ms, state, suite);

-- migrate: 6
-- Trends read a model's rollups in (case, time) order: store them in that
-- order (the primary key), so a series is one contiguous range instead of
-- a b-tree search per run; (run_id, case_name) stays unique for the
-- ingest upsert. The _sumsq columns (unused since step 5) are left behind.
-- The triggers that name history_rollup are dropped and created again
-- around the rebuild (a rename re-checks them).
DROP TRIGGER history_rollup_ingest;
DROP TRIGGER history_rollup_facts;
DROP TRIGGER history_run_finished;
DROP TRIGGER history_rollup_exact;
DROP TRIGGER history_daily_merge;
CREATE TABLE history_rollup_new (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    case_name TEXT NOT NULL,
    model TEXT NOT NULL,
    fingerprint TEXT,
    series TEXT NOT NULL,
    suite TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL,
    n INTEGER NOT NULL,
    n_ok INTEGER NOT NULL,
    n_passed INTEGER NOT NULL,
    decode_tps_n INTEGER NOT NULL DEFAULT 0,
    decode_tps_sum REAL,
    decode_tps_m2 REAL,
    decode_tps_min REAL,
    decode_tps_max REAL,
    decode_tps_p50 REAL,
    decode_tps_p90 REAL,
    e2e_tps_n INTEGER NOT NULL DEFAULT 0,
    e2e_tps_sum REAL,
    e2e_tps_m2 REAL,
    e2e_tps_min REAL,
    e2e_tps_max REAL,
    e2e_tps_p50 REAL,
    e2e_tps_p90 REAL,
    ttft_ms_n INTEGER NOT NULL DEFAULT 0,
    ttft_ms_sum REAL,
    ttft_ms_m2 REAL,
    ttft_ms_min REAL,
    ttft_ms_max REAL,
    ttft_ms_p50 REAL,
    ttft_ms_p90 REAL,
    prompt_tps_n INTEGER NOT NULL DEFAULT 0,
    prompt_tps_sum REAL,
    prompt_tps_m2 REAL,
    prompt_tps_min REAL,
    prompt_tps_max REAL,
    prompt_tps_p50 REAL,
    prompt_tps_p90 REAL,
    in_daily INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (model, case_name, at, run_id)
) WITHOUT ROWID;
INSERT INTO history_rollup_new (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, in_daily)
SELECT run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, in_daily FROM history_rollup;
DROP TABLE history_rollup;
ALTER TABLE history_rollup_new RENAME TO history_rollup;
CREATE UNIQUE INDEX history_rollup_run ON history_rollup (run_id, case_name);
CREATE INDEX history_rollup_at ON history_rollup (at);
CREATE INDEX history_rollup_model_at ON history_rollup (model, at);
CREATE INDEX history_rollup_series ON history_rollup (series, case_name, at);
CREATE INDEX history_rollup_undaily ON history_rollup (at) WHERE in_daily = 0;
CREATE TRIGGER history_rollup_ingest AFTER INSERT ON samples WHEN NEW.warmup = 0
BEGIN
    INSERT INTO history_rollup (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max)
    SELECT NEW.run_id,
           NEW.case_name,
           r.model,
           r.fingerprint,
           coalesce(r.fingerprint, r.model),
           r.suite,
           NEW.started_at,
           1,
           NEW.ok = 1,
           NEW.ok = 1 AND coalesce(NEW.passed, 1) != 0,
           (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.decode_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.e2e_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 AND NEW.ttft_ms IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.prompt_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END
    FROM runs r WHERE r.id = NEW.run_id
    ON CONFLICT (run_id, case_name) DO UPDATE SET
        n = n + 1,
        n_ok = n_ok + excluded.n_ok,
        n_passed = n_passed + excluded.n_passed,
        at = min(at, excluded.at),
        decode_tps_n = decode_tps_n + excluded.decode_tps_n,
        decode_tps_sum = coalesce(decode_tps_sum + excluded.decode_tps_sum, decode_tps_sum, excluded.decode_tps_sum),
        decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN decode_tps_m2 WHEN decode_tps_n = 0 THEN 0.0
            ELSE decode_tps_m2 + (excluded.decode_tps_sum - decode_tps_sum / decode_tps_n) * (excluded.decode_tps_sum - (decode_tps_sum + excluded.decode_tps_sum) / (decode_tps_n + 1)) END,
        decode_tps_min = coalesce(min(decode_tps_min, excluded.decode_tps_min), decode_tps_min, excluded.decode_tps_min),
        decode_tps_max = coalesce(max(decode_tps_max, excluded.decode_tps_max), decode_tps_max, excluded.decode_tps_max),
        e2e_tps_n = e2e_tps_n + excluded.e2e_tps_n,
        e2e_tps_sum = coalesce(e2e_tps_sum + excluded.e2e_tps_sum, e2e_tps_sum, excluded.e2e_tps_sum),
        e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN e2e_tps_m2 WHEN e2e_tps_n = 0 THEN 0.0
            ELSE e2e_tps_m2 + (excluded.e2e_tps_sum - e2e_tps_sum / e2e_tps_n) * (excluded.e2e_tps_sum - (e2e_tps_sum + excluded.e2e_tps_sum) / (e2e_tps_n + 1)) END,
        e2e_tps_min = coalesce(min(e2e_tps_min, excluded.e2e_tps_min), e2e_tps_min, excluded.e2e_tps_min),
        e2e_tps_max = coalesce(max(e2e_tps_max, excluded.e2e_tps_max), e2e_tps_max, excluded.e2e_tps_max),
        ttft_ms_n = ttft_ms_n + excluded.ttft_ms_n,
        ttft_ms_sum = coalesce(ttft_ms_sum + excluded.ttft_ms_sum, ttft_ms_sum, excluded.ttft_ms_sum),
        ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN ttft_ms_m2 WHEN ttft_ms_n = 0 THEN 0.0
            ELSE ttft_ms_m2 + (excluded.ttft_ms_sum - ttft_ms_sum / ttft_ms_n) * (excluded.ttft_ms_sum - (ttft_ms_sum + excluded.ttft_ms_sum) / (ttft_ms_n + 1)) END,
        ttft_ms_min = coalesce(min(ttft_ms_min, excluded.ttft_ms_min), ttft_ms_min, excluded.ttft_ms_min),
        ttft_ms_max = coalesce(max(ttft_ms_max, excluded.ttft_ms_max), ttft_ms_max, excluded.ttft_ms_max),
        prompt_tps_n = prompt_tps_n + excluded.prompt_tps_n,
        prompt_tps_sum = coalesce(prompt_tps_sum + excluded.prompt_tps_sum, prompt_tps_sum, excluded.prompt_tps_sum),
        prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN prompt_tps_m2 WHEN prompt_tps_n = 0 THEN 0.0
            ELSE prompt_tps_m2 + (excluded.prompt_tps_sum - prompt_tps_sum / prompt_tps_n) * (excluded.prompt_tps_sum - (prompt_tps_sum + excluded.prompt_tps_sum) / (prompt_tps_n + 1)) END,
        prompt_tps_min = coalesce(min(prompt_tps_min, excluded.prompt_tps_min), prompt_tps_min, excluded.prompt_tps_min),
        prompt_tps_max = coalesce(max(prompt_tps_max, excluded.prompt_tps_max), prompt_tps_max, excluded.prompt_tps_max);
    UPDATE history_rollup SET
        decode_tps_p50 = (SELECT tpsd_pct(s.decode_tps, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        decode_tps_p90 = (SELECT tpsd_pct(s.decode_tps, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p50 = (SELECT tpsd_pct(s.e2e_tps, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p90 = (SELECT tpsd_pct(s.e2e_tps, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p50 = (SELECT tpsd_pct(s.ttft_ms, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p90 = (SELECT tpsd_pct(s.ttft_ms, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p50 = (SELECT tpsd_pct(s.prompt_tps, 0.5) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p90 = (SELECT tpsd_pct(s.prompt_tps, 0.9) FROM samples s WHERE s.run_id = NEW.run_id
            AND s.case_name = NEW.case_name AND s.warmup = 0 AND s.ok = 1)
    WHERE run_id = NEW.run_id AND case_name = NEW.case_name
      AND NEW.ok = 1 AND (n <= 2000 OR n % 1000 = 0);
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
CREATE TRIGGER history_rollup_facts AFTER UPDATE OF model, fingerprint, suite ON runs
BEGIN
    UPDATE history_rollup SET model = NEW.model, fingerprint = NEW.fingerprint,
        series = coalesce(NEW.fingerprint, NEW.model), suite = NEW.suite
    WHERE run_id = NEW.id;
END;
CREATE TRIGGER history_run_finished AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
     AND EXISTS (SELECT 1 FROM history_rollup WHERE run_id = NEW.id)
BEGIN
    INSERT INTO history_models (model, latest_run_id, latest_at, runs)
    SELECT NEW.model, NEW.id, (SELECT max(at) FROM history_rollup WHERE run_id = NEW.id), 1
    WHERE true
    ON CONFLICT (model) DO UPDATE SET runs = runs + 1,
        latest_run_id = CASE WHEN excluded.latest_at >= latest_at THEN excluded.latest_run_id
                             ELSE latest_run_id END,
        latest_at = max(latest_at, excluded.latest_at);
    INSERT INTO history_best (model, case_name, e2e_tps, run_id)
    SELECT model, case_name, e2e_tps_sum / e2e_tps_n, run_id FROM history_rollup
    WHERE run_id = NEW.id AND e2e_tps_n > 0
    ON CONFLICT (model, case_name) DO UPDATE SET e2e_tps = excluded.e2e_tps,
        run_id = excluded.run_id WHERE excluded.e2e_tps > history_best.e2e_tps;
END;
CREATE TRIGGER history_rollup_exact AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
BEGIN
    UPDATE history_rollup SET
        decode_tps_p50 = (SELECT tpsd_pct(s.decode_tps, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        decode_tps_p90 = (SELECT tpsd_pct(s.decode_tps, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p50 = (SELECT tpsd_pct(s.e2e_tps, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        e2e_tps_p90 = (SELECT tpsd_pct(s.e2e_tps, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p50 = (SELECT tpsd_pct(s.ttft_ms, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        ttft_ms_p90 = (SELECT tpsd_pct(s.ttft_ms, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p50 = (SELECT tpsd_pct(s.prompt_tps, 0.5) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1),
        prompt_tps_p90 = (SELECT tpsd_pct(s.prompt_tps, 0.9) FROM samples s WHERE s.run_id = NEW.id
            AND s.case_name = history_rollup.case_name AND s.warmup = 0 AND s.ok = 1)
    WHERE run_id = NEW.id AND n > 2000;
END;
CREATE TRIGGER history_daily_merge AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
BEGIN
    INSERT INTO history_daily (model, case_name, suite, day, runs, n, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, decode_tps_meds, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, e2e_tps_meds, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, ttft_ms_meds, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, prompt_tps_meds)
        SELECT model, case_name, suite, at - at % 86400000, 1, n, n_passed, decode_tps_n, decode_tps_sum, coalesce(decode_tps_m2, 0.0), decode_tps_min, decode_tps_max, decode_tps_p50, decode_tps_p90, tpsd_f64(decode_tps_p50), e2e_tps_n, e2e_tps_sum, coalesce(e2e_tps_m2, 0.0), e2e_tps_min, e2e_tps_max, e2e_tps_p50, e2e_tps_p90, tpsd_f64(e2e_tps_p50), ttft_ms_n, ttft_ms_sum, coalesce(ttft_ms_m2, 0.0), ttft_ms_min, ttft_ms_max, ttft_ms_p50, ttft_ms_p90, tpsd_f64(ttft_ms_p50), prompt_tps_n, prompt_tps_sum, coalesce(prompt_tps_m2, 0.0), prompt_tps_min, prompt_tps_max, prompt_tps_p50, prompt_tps_p90, tpsd_f64(prompt_tps_p50)
        FROM history_rollup WHERE run_id = NEW.id AND in_daily = 0
        ON CONFLICT (model, case_name, day, suite) DO UPDATE SET
            runs = runs + excluded.runs,
            n = n + excluded.n,
            n_passed = n_passed + excluded.n_passed,
            decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN history_daily.decode_tps_m2 WHEN history_daily.decode_tps_n = 0 THEN excluded.decode_tps_m2
                ELSE history_daily.decode_tps_m2 + excluded.decode_tps_m2 + (excluded.decode_tps_sum / excluded.decode_tps_n - history_daily.decode_tps_sum / history_daily.decode_tps_n)
                     * (excluded.decode_tps_sum / excluded.decode_tps_n - history_daily.decode_tps_sum / history_daily.decode_tps_n) * history_daily.decode_tps_n * excluded.decode_tps_n / (history_daily.decode_tps_n + excluded.decode_tps_n) END,
            decode_tps_n = history_daily.decode_tps_n + excluded.decode_tps_n,
            decode_tps_sum = coalesce(history_daily.decode_tps_sum + excluded.decode_tps_sum, history_daily.decode_tps_sum, excluded.decode_tps_sum),
            decode_tps_min = coalesce(min(history_daily.decode_tps_min, excluded.decode_tps_min), history_daily.decode_tps_min, excluded.decode_tps_min),
            decode_tps_max = coalesce(max(history_daily.decode_tps_max, excluded.decode_tps_max), history_daily.decode_tps_max, excluded.decode_tps_max),
            decode_tps_meds = tpsd_cat(history_daily.decode_tps_meds, excluded.decode_tps_meds),
            e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN history_daily.e2e_tps_m2 WHEN history_daily.e2e_tps_n = 0 THEN excluded.e2e_tps_m2
                ELSE history_daily.e2e_tps_m2 + excluded.e2e_tps_m2 + (excluded.e2e_tps_sum / excluded.e2e_tps_n - history_daily.e2e_tps_sum / history_daily.e2e_tps_n)
                     * (excluded.e2e_tps_sum / excluded.e2e_tps_n - history_daily.e2e_tps_sum / history_daily.e2e_tps_n) * history_daily.e2e_tps_n * excluded.e2e_tps_n / (history_daily.e2e_tps_n + excluded.e2e_tps_n) END,
            e2e_tps_n = history_daily.e2e_tps_n + excluded.e2e_tps_n,
            e2e_tps_sum = coalesce(history_daily.e2e_tps_sum + excluded.e2e_tps_sum, history_daily.e2e_tps_sum, excluded.e2e_tps_sum),
            e2e_tps_min = coalesce(min(history_daily.e2e_tps_min, excluded.e2e_tps_min), history_daily.e2e_tps_min, excluded.e2e_tps_min),
            e2e_tps_max = coalesce(max(history_daily.e2e_tps_max, excluded.e2e_tps_max), history_daily.e2e_tps_max, excluded.e2e_tps_max),
            e2e_tps_meds = tpsd_cat(history_daily.e2e_tps_meds, excluded.e2e_tps_meds),
            ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN history_daily.ttft_ms_m2 WHEN history_daily.ttft_ms_n = 0 THEN excluded.ttft_ms_m2
                ELSE history_daily.ttft_ms_m2 + excluded.ttft_ms_m2 + (excluded.ttft_ms_sum / excluded.ttft_ms_n - history_daily.ttft_ms_sum / history_daily.ttft_ms_n)
                     * (excluded.ttft_ms_sum / excluded.ttft_ms_n - history_daily.ttft_ms_sum / history_daily.ttft_ms_n) * history_daily.ttft_ms_n * excluded.ttft_ms_n / (history_daily.ttft_ms_n + excluded.ttft_ms_n) END,
            ttft_ms_n = history_daily.ttft_ms_n + excluded.ttft_ms_n,
            ttft_ms_sum = coalesce(history_daily.ttft_ms_sum + excluded.ttft_ms_sum, history_daily.ttft_ms_sum, excluded.ttft_ms_sum),
            ttft_ms_min = coalesce(min(history_daily.ttft_ms_min, excluded.ttft_ms_min), history_daily.ttft_ms_min, excluded.ttft_ms_min),
            ttft_ms_max = coalesce(max(history_daily.ttft_ms_max, excluded.ttft_ms_max), history_daily.ttft_ms_max, excluded.ttft_ms_max),
            ttft_ms_meds = tpsd_cat(history_daily.ttft_ms_meds, excluded.ttft_ms_meds),
            prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN history_daily.prompt_tps_m2 WHEN history_daily.prompt_tps_n = 0 THEN excluded.prompt_tps_m2
                ELSE history_daily.prompt_tps_m2 + excluded.prompt_tps_m2 + (excluded.prompt_tps_sum / excluded.prompt_tps_n - history_daily.prompt_tps_sum / history_daily.prompt_tps_n)
                     * (excluded.prompt_tps_sum / excluded.prompt_tps_n - history_daily.prompt_tps_sum / history_daily.prompt_tps_n) * history_daily.prompt_tps_n * excluded.prompt_tps_n / (history_daily.prompt_tps_n + excluded.prompt_tps_n) END,
            prompt_tps_n = history_daily.prompt_tps_n + excluded.prompt_tps_n,
            prompt_tps_sum = coalesce(history_daily.prompt_tps_sum + excluded.prompt_tps_sum, history_daily.prompt_tps_sum, excluded.prompt_tps_sum),
            prompt_tps_min = coalesce(min(history_daily.prompt_tps_min, excluded.prompt_tps_min), history_daily.prompt_tps_min, excluded.prompt_tps_min),
            prompt_tps_max = coalesce(max(history_daily.prompt_tps_max, excluded.prompt_tps_max), history_daily.prompt_tps_max, excluded.prompt_tps_max),
            prompt_tps_meds = tpsd_cat(history_daily.prompt_tps_meds, excluded.prompt_tps_meds);
    UPDATE history_rollup SET in_daily = 1 WHERE run_id = NEW.id AND in_daily = 0;
END;

-- migrate: 7
-- load_ms trends by day and week over long histories: per (model, suite,
-- UTC day of the run's start) the load times of the finished runs (count,
-- succeeded, sum, Welford M2, min, max, the first run's value for a day of
-- one run, every value as float64 little-endian for the percentiles).
-- Merged when a run finishes; unfinished runs and the partial days at the
-- edges of a query are read from runs (storage/history.c).
CREATE TABLE history_daily_load (
    model           TEXT    NOT NULL,
    suite           TEXT    NOT NULL,
    day             INTEGER NOT NULL,
    load_n          INTEGER NOT NULL,
    load_passed     INTEGER NOT NULL,
    load_sum        REAL    NOT NULL,
    load_m2         REAL    NOT NULL,
    load_min        REAL    NOT NULL,
    load_max        REAL    NOT NULL,
    load_first      REAL    NOT NULL,
    load_vals       BLOB,
    PRIMARY KEY (model, day, suite)
) WITHOUT ROWID;
INSERT INTO history_daily_load (model, suite, day, load_n, load_passed, load_sum, load_m2,
                                load_min, load_max, load_first, load_vals)
SELECT model, suite, started_at - started_at % 86400000, 1, state = 'succeeded', load_ms, 0.0,
       load_ms, load_ms, load_ms, tpsd_f64(load_ms)
FROM runs WHERE state NOT IN ('pending', 'running') AND load_ms IS NOT NULL
    AND started_at IS NOT NULL ORDER BY id
ON CONFLICT (model, day, suite) DO UPDATE SET
    load_m2 = load_m2 + (excluded.load_sum - load_sum / load_n)
                        * (excluded.load_sum - (load_sum + excluded.load_sum) / (load_n + 1)),
    load_n = load_n + 1,
    load_passed = load_passed + excluded.load_passed,
    load_sum = load_sum + excluded.load_sum,
    load_min = min(load_min, excluded.load_min),
    load_max = max(load_max, excluded.load_max),
    load_vals = tpsd_cat(load_vals, excluded.load_vals);
CREATE TRIGGER history_daily_load_merge AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('pending', 'running') AND OLD.state IN ('pending', 'running')
     AND NEW.load_ms IS NOT NULL AND NEW.started_at IS NOT NULL
BEGIN
    INSERT INTO history_daily_load (model, suite, day, load_n, load_passed, load_sum, load_m2,
                                    load_min, load_max, load_first, load_vals)
    VALUES (NEW.model, NEW.suite, NEW.started_at - NEW.started_at % 86400000, 1,
            NEW.state = 'succeeded', NEW.load_ms, 0.0, NEW.load_ms, NEW.load_ms, NEW.load_ms,
            tpsd_f64(NEW.load_ms))
    ON CONFLICT (model, day, suite) DO UPDATE SET
        load_m2 = load_m2 + (excluded.load_sum - load_sum / load_n)
                            * (excluded.load_sum - (load_sum + excluded.load_sum) / (load_n + 1)),
        load_n = load_n + 1,
        load_passed = load_passed + excluded.load_passed,
        load_sum = load_sum + excluded.load_sum,
        load_min = min(load_min, excluded.load_min),
        load_max = max(load_max, excluded.load_max),
        load_vals = tpsd_cat(load_vals, excluded.load_vals);
END;
CREATE INDEX runs_unfinished ON runs (started_at) WHERE state IN ('pending', 'running');
CREATE INDEX runs_started ON runs (started_at);

-- migrate: 8
-- Trends read the rollups (steps 3, 5, 6), never raw samples by case and
-- time: the index of step 2 for that only costs space (a tenth of a
-- sample's bytes) and time at every insert.
DROP INDEX samples_trend;

-- migrate: 9
-- Trends of one case (the dashboard's default when all cases would be too
-- many lines) read that case's days instead of scanning every row of
-- history_daily (its key starts with the model): the last 30 days of one
-- case out of five on a year of history, 16 -> 4 ms.
CREATE INDEX history_daily_case ON history_daily (case_name, day);
-- A job's request and error counts (GET /v1/jobs, /v1/jobs/{id}) sum its
-- runs' rollups from this index alone, not from the wide rollup rows:
-- the 50 newest jobs of 20 runs each, 12 -> 1.6 ms.
CREATE INDEX history_rollup_run_n ON history_rollup (run_id, n, n_ok);

-- migrate: 10
-- A run is closed whenever its job ends (storage/runs.c, runs_close_open):
-- before this version a foreground `tpsd run` stopped by a signal, or a
-- cancelled job, left its run 'running' with no finished_at for good. Close
-- the runs of ended jobs that an older tpsd left open, as runs_close_open does.
UPDATE runs SET
    state = CASE WHEN j.state = 'cancelled' THEN 'cancelled' ELSE 'interrupted' END,
    finished_at = coalesce(j.finished_at, j.updated_at),
    started_at = coalesce(runs.started_at, j.finished_at, j.updated_at),
    error_code = CASE WHEN j.state = 'cancelled' THEN NULL ELSE 'interrupted' END,
    error_detail = 'its job ended ' || j.state || ' while the run was open'
FROM jobs j WHERE j.id = runs.job_id AND runs.state IN ('pending', 'running')
    AND j.state IN ('succeeded', 'failed', 'cancelled', 'interrupted');

-- migrate: 11
-- The server's own clock beside the client's (daemon/server_timings.h):
-- figures read once per sample from the timings the server reported
-- (llama.cpp `timings`, Ollama's durations, LM Studio's `stats`), the
-- server's decode speed against the client's on the same basis, and a flag
-- when they differ by more than 5%. Older samples keep NULL (their
-- server_stats text is still there to recompute from).
ALTER TABLE samples ADD COLUMN server_prompt_tps REAL;
ALTER TABLE samples ADD COLUMN server_decode_tps REAL;
ALTER TABLE samples ADD COLUMN server_ttft_ms REAL;
ALTER TABLE samples ADD COLUMN server_cached_tokens INTEGER;
ALTER TABLE samples ADD COLUMN server_decode_diff_pct REAL;
ALTER TABLE samples ADD COLUMN server_clock_mismatch INTEGER NOT NULL DEFAULT 0;

-- migrate: 12
-- The ingest trigger's live percentiles in one pass: version 6 read the
-- run's samples of the case once per figure: eight scans of up to 2,000
-- rows on every insert, so a run's storage grew with the square of its
-- samples (a 256-request `tpsd run` spent a third of its CPU there). One
-- row-value UPDATE computes the same eight tpsd_pct aggregates over the
-- same rows in one scan (tests/test_storage.c compares the two triggers'
-- rollups). Nothing else changes.
DROP TRIGGER history_rollup_ingest;
CREATE TRIGGER history_rollup_ingest AFTER INSERT ON samples WHEN NEW.warmup = 0
BEGIN
    INSERT INTO history_rollup (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max)
    SELECT NEW.run_id,
           NEW.case_name,
           r.model,
           r.fingerprint,
           coalesce(r.fingerprint, r.model),
           r.suite,
           NEW.started_at,
           1,
           NEW.ok = 1,
           NEW.ok = 1 AND coalesce(NEW.passed, 1) != 0,
           (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.decode_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.e2e_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 AND NEW.ttft_ms IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.prompt_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END
    FROM runs r WHERE r.id = NEW.run_id
    ON CONFLICT (run_id, case_name) DO UPDATE SET
        n = n + 1,
        n_ok = n_ok + excluded.n_ok,
        n_passed = n_passed + excluded.n_passed,
        at = min(at, excluded.at),
        decode_tps_n = decode_tps_n + excluded.decode_tps_n,
        decode_tps_sum = coalesce(decode_tps_sum + excluded.decode_tps_sum, decode_tps_sum, excluded.decode_tps_sum),
        decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN decode_tps_m2 WHEN decode_tps_n = 0 THEN 0.0
            ELSE decode_tps_m2 + (excluded.decode_tps_sum - decode_tps_sum / decode_tps_n) * (excluded.decode_tps_sum - (decode_tps_sum + excluded.decode_tps_sum) / (decode_tps_n + 1)) END,
        decode_tps_min = coalesce(min(decode_tps_min, excluded.decode_tps_min), decode_tps_min, excluded.decode_tps_min),
        decode_tps_max = coalesce(max(decode_tps_max, excluded.decode_tps_max), decode_tps_max, excluded.decode_tps_max),
        e2e_tps_n = e2e_tps_n + excluded.e2e_tps_n,
        e2e_tps_sum = coalesce(e2e_tps_sum + excluded.e2e_tps_sum, e2e_tps_sum, excluded.e2e_tps_sum),
        e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN e2e_tps_m2 WHEN e2e_tps_n = 0 THEN 0.0
            ELSE e2e_tps_m2 + (excluded.e2e_tps_sum - e2e_tps_sum / e2e_tps_n) * (excluded.e2e_tps_sum - (e2e_tps_sum + excluded.e2e_tps_sum) / (e2e_tps_n + 1)) END,
        e2e_tps_min = coalesce(min(e2e_tps_min, excluded.e2e_tps_min), e2e_tps_min, excluded.e2e_tps_min),
        e2e_tps_max = coalesce(max(e2e_tps_max, excluded.e2e_tps_max), e2e_tps_max, excluded.e2e_tps_max),
        ttft_ms_n = ttft_ms_n + excluded.ttft_ms_n,
        ttft_ms_sum = coalesce(ttft_ms_sum + excluded.ttft_ms_sum, ttft_ms_sum, excluded.ttft_ms_sum),
        ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN ttft_ms_m2 WHEN ttft_ms_n = 0 THEN 0.0
            ELSE ttft_ms_m2 + (excluded.ttft_ms_sum - ttft_ms_sum / ttft_ms_n) * (excluded.ttft_ms_sum - (ttft_ms_sum + excluded.ttft_ms_sum) / (ttft_ms_n + 1)) END,
        ttft_ms_min = coalesce(min(ttft_ms_min, excluded.ttft_ms_min), ttft_ms_min, excluded.ttft_ms_min),
        ttft_ms_max = coalesce(max(ttft_ms_max, excluded.ttft_ms_max), ttft_ms_max, excluded.ttft_ms_max),
        prompt_tps_n = prompt_tps_n + excluded.prompt_tps_n,
        prompt_tps_sum = coalesce(prompt_tps_sum + excluded.prompt_tps_sum, prompt_tps_sum, excluded.prompt_tps_sum),
        prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN prompt_tps_m2 WHEN prompt_tps_n = 0 THEN 0.0
            ELSE prompt_tps_m2 + (excluded.prompt_tps_sum - prompt_tps_sum / prompt_tps_n) * (excluded.prompt_tps_sum - (prompt_tps_sum + excluded.prompt_tps_sum) / (prompt_tps_n + 1)) END,
        prompt_tps_min = coalesce(min(prompt_tps_min, excluded.prompt_tps_min), prompt_tps_min, excluded.prompt_tps_min),
        prompt_tps_max = coalesce(max(prompt_tps_max, excluded.prompt_tps_max), prompt_tps_max, excluded.prompt_tps_max);
    UPDATE history_rollup SET (decode_tps_p50, decode_tps_p90, e2e_tps_p50, e2e_tps_p90, ttft_ms_p50, ttft_ms_p90, prompt_tps_p50, prompt_tps_p90) =
        (SELECT tpsd_pct(s.decode_tps, 0.5), tpsd_pct(s.decode_tps, 0.9),
            tpsd_pct(s.e2e_tps, 0.5), tpsd_pct(s.e2e_tps, 0.9),
            tpsd_pct(s.ttft_ms, 0.5), tpsd_pct(s.ttft_ms, 0.9),
            tpsd_pct(s.prompt_tps, 0.5), tpsd_pct(s.prompt_tps, 0.9)
         FROM samples s WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
           AND s.warmup = 0 AND s.ok = 1)
    WHERE run_id = NEW.run_id AND case_name = NEW.case_name
      AND NEW.ok = 1 AND (n <= 2000 OR n % 1000 = 0);
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;

-- migrate: 13
-- Weekly trends of every series over a year read one narrow row per
-- (metric, model, case, week) instead of seven wide ones of history_daily:
-- history_weekly holds the fold of that week's days in history_daily's key order (day,
-- then suite) as storage/history.c's point accumulator makes it
-- (tpsd_fold: n, sum, Welford M2 merged by Chan's formula, min, max, the
-- last day's p50/p90, every run's median), so a week read whole gives the
-- same figures, bit for bit, as its days. Kept by a trigger on every
-- update of history_daily (a new row updates itself to fire it; a run's
-- finish merges its rollups there); suites are folded together, so a query naming a suite reads the
-- days. A week still holding rollups not merged into history_daily is
-- read from its days and rollups (storage/history.c).
CREATE TABLE history_weekly (
    metric TEXT NOT NULL,
    model TEXT NOT NULL,
    case_name TEXT NOT NULL,
    week INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    n INTEGER NOT NULL,
    n_passed INTEGER NOT NULL,
    v_n INTEGER NOT NULL,
    v_sum REAL,
    v_m2 REAL,
    v_min REAL,
    v_max REAL,
    v_p50 REAL,
    v_p90 REAL,
    v_meds BLOB,
    PRIMARY KEY (metric, model, case_name, week)
) WITHOUT ROWID;
CREATE TRIGGER history_weekly_ins AFTER INSERT ON history_daily
BEGIN
    UPDATE history_daily SET runs = runs WHERE model = NEW.model AND case_name = NEW.case_name
        AND day = NEW.day AND suite = NEW.suite;
END;
CREATE TRIGGER history_weekly_upd AFTER UPDATE ON history_daily
BEGIN
    INSERT INTO history_weekly (metric, model, case_name, week, runs, n, n_passed, v_n, v_sum, v_m2, v_min, v_max, v_p50, v_p90, v_meds)
    SELECT metric, NEW.model, NEW.case_name, week, t.runs, t.n, t.n_passed, tpsd_st(f, 0), tpsd_st(f, 1),
           tpsd_st(f, 2), tpsd_st(f, 3), tpsd_st(f, 4), tpsd_st(f, 5), tpsd_st(f, 6), tpsd_st(f, 7)
    FROM (SELECT m.metric, w.week,
                 (SELECT tpsd_fold(CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_n WHEN 'e2e_tps' THEN d.e2e_tps_n WHEN 'ttft_ms' THEN d.ttft_ms_n ELSE d.prompt_tps_n END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_sum WHEN 'e2e_tps' THEN d.e2e_tps_sum WHEN 'ttft_ms' THEN d.ttft_ms_sum ELSE d.prompt_tps_sum END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_m2 WHEN 'e2e_tps' THEN d.e2e_tps_m2 WHEN 'ttft_ms' THEN d.ttft_ms_m2 ELSE d.prompt_tps_m2 END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_min WHEN 'e2e_tps' THEN d.e2e_tps_min WHEN 'ttft_ms' THEN d.ttft_ms_min ELSE d.prompt_tps_min END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_max WHEN 'e2e_tps' THEN d.e2e_tps_max WHEN 'ttft_ms' THEN d.ttft_ms_max ELSE d.prompt_tps_max END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_p50 WHEN 'e2e_tps' THEN d.e2e_tps_p50 WHEN 'ttft_ms' THEN d.ttft_ms_p50 ELSE d.prompt_tps_p50 END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_p90 WHEN 'e2e_tps' THEN d.e2e_tps_p90 WHEN 'ttft_ms' THEN d.ttft_ms_p90 ELSE d.prompt_tps_p90 END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_meds WHEN 'e2e_tps' THEN d.e2e_tps_meds WHEN 'ttft_ms' THEN d.ttft_ms_meds ELSE d.prompt_tps_meds END)
                  FROM history_daily d
                  WHERE d.model = NEW.model AND d.case_name = NEW.case_name
                    AND d.day >= w.week AND d.day < w.week + 604800000) AS f
          FROM (SELECT 'decode_tps' AS metric UNION ALL SELECT 'e2e_tps' UNION ALL SELECT 'ttft_ms' UNION ALL SELECT 'prompt_tps') m
          JOIN (SELECT NEW.day - ((NEW.day - 345600000) % 604800000 + 604800000) % 604800000 AS week) w)
    JOIN (SELECT sum(runs) AS runs, sum(n) AS n, sum(n_passed) AS n_passed FROM history_daily
          WHERE model = NEW.model AND case_name = NEW.case_name
            AND day >= NEW.day - ((NEW.day - 345600000) % 604800000 + 604800000) % 604800000
            AND day < NEW.day - ((NEW.day - 345600000) % 604800000 + 604800000) % 604800000 + 604800000) t
    WHERE true
    ON CONFLICT (metric, model, case_name, week) DO UPDATE SET runs = excluded.runs, n = excluded.n,
        n_passed = excluded.n_passed, v_n = excluded.v_n, v_sum = excluded.v_sum, v_m2 = excluded.v_m2,
        v_min = excluded.v_min, v_max = excluded.v_max, v_p50 = excluded.v_p50, v_p90 = excluded.v_p90,
        v_meds = excluded.v_meds;
END;
-- The days around the whole weeks of a query, by day whatever the model.
-- On the expression day + 0, which only those parts name: the planner
-- never picks it for the other day queries (it would trade their key-order
-- scan for a sort of every row).
CREATE INDEX history_daily_day ON history_daily (day + 0);
-- Backfill: each day's row refolds its week (seven times per week; once).
UPDATE history_daily SET runs = runs;

-- migrate: 14
-- Cool-down and thermal gating (daemon/cooldown.h): every wait the runner
-- made for a run, one row each. kind 'model': before the model was loaded,
-- the pause since the previous model (pause_ms asked, paused_ms waited) and
-- then the thermal gate (gate_max_ms its bound, 0 = off; gate_wait_ms
-- waited; timed_out when it gave up at its bound with the machine still
-- hot). kind 'case': the pause before case_name. thermal_start/_end: the
-- thermal state read when the wait began and ended (NULL unknown);
-- interrupted: cut short by a cancel or a shutdown. Times: Unix ms.
CREATE TABLE run_waits (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('model', 'case')),
    case_name       TEXT,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER NOT NULL,
    pause_ms        INTEGER NOT NULL DEFAULT 0,
    paused_ms       INTEGER NOT NULL DEFAULT 0,
    gate_max_ms     INTEGER NOT NULL DEFAULT 0,
    gate_wait_ms    INTEGER NOT NULL DEFAULT 0,
    thermal_start   TEXT,
    thermal_end     TEXT,
    timed_out       INTEGER NOT NULL DEFAULT 0,
    interrupted     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_waits_run ON run_waits (run_id, id);

-- migrate: 15
-- Capacity search (daemon/capacity.h, issue 17): jobs of kind 'capacity'
-- (the CHECK of jobs.kind is widened in place, as SQLite's ALTER TABLE page
-- documents for a change that only relaxes a CHECK: no row is rewritten,
-- so nothing cascades from a rebuilt jobs table), each step of a search
-- stored as it completes (the concurrency or request rate it ran at, its
-- percentiles, goodput: requests per second that met the service level,
-- per-user decode and total token rates), and each model's answer.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (kind IN (''benchmark'', ''stability''))',
                  'CHECK (kind IN (''benchmark'', ''stability'', ''capacity''))')
WHERE type = 'table' AND name = 'jobs';
PRAGMA writable_schema = RESET;
CREATE TABLE capacity_steps (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step            INTEGER NOT NULL,              -- 0, 1, ... in the order run
    concurrency     INTEGER,                       -- a concurrency search's load
    rps             REAL,                          -- a rate search's offered load
    n               INTEGER NOT NULL,              -- requests measured
    n_failed        INTEGER NOT NULL,
    n_good          INTEGER NOT NULL,              -- requests that met the level
    duration_s      REAL    NOT NULL,              -- first send to last answer
    ttft_p50_ms     REAL,
    ttft_p95_ms     REAL,
    decode_p5_tps   REAL,                          -- per user
    decode_p50_tps  REAL,
    error_rate      REAL    NOT NULL,
    goodput_rps     REAL    NOT NULL,
    total_tps       REAL    NOT NULL,              -- completion tokens / duration_s
    passed          INTEGER NOT NULL,              -- met the level
    saturated       INTEGER NOT NULL,
    seq_first       INTEGER,                       -- its samples: seq_first..seq_last
    seq_last        INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (run_id, step)
);
CREATE TABLE capacity_results (
    run_id          INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    model           TEXT    NOT NULL,
    mode            TEXT    NOT NULL CHECK (mode IN ('concurrency', 'rate')),
    level           TEXT    NOT NULL,              -- the service level, JSON
    capacity        REAL,                          -- highest load within it; NULL: none
    goodput_rps     REAL,                          -- at that load
    stop_reason     TEXT    NOT NULL,
    finished_at     INTEGER NOT NULL
);
CREATE INDEX capacity_results_model ON capacity_results (model, finished_at);

-- migrate: 16
-- Depth sweeps (daemon/depth.h): the context a request was asked to hold
-- before its messages (NULL: not a depth request), whether it repeated the
-- previous request's prompt (warm: the server's prompt cache holds it), how
-- far the server's prompt count was from the calibrated size, and a flag
-- beyond 2%. The server-counted size is prompt_tokens, as for every sample.
ALTER TABLE samples ADD COLUMN depth INTEGER;
ALTER TABLE samples ADD COLUMN depth_warm INTEGER NOT NULL DEFAULT 0;
ALTER TABLE samples ADD COLUMN depth_off_pct REAL;
ALTER TABLE samples ADD COLUMN depth_mismatch INTEGER NOT NULL DEFAULT 0;

-- migrate: 17
-- A week read whole from history_weekly (weekly trends of every series over
-- a year) took its p50/p90, the run-to-run spread, by selecting among the
-- week's ~168 per-run medians at every query: a third of the answer's time.
-- The week now stores that spread, v_spread_p50/_p90, computed when the
-- week is refolded by tpsd_spread: the very calls the query made
-- (storage/history.c, acc_spread) on the same medians, so the answer stays
-- bit for bit the same. A week of history_weekly is always a whole point
-- (storage/history.c, trends_weeks): nothing read its medians but that
-- selection, so the table no longer keeps them (v_meds, 1.3 KB a week of
-- hourly runs, in overflow pages: written at every run's finish, read at
-- every query); the fold still takes them from the days, which keep them.
-- SQLite has no ALTER TRIGGER and drops a column only when nothing names
-- it: the table is rebuilt (every existing week's spread from its own
-- medians, as the query computed it) and the trigger that keeps it is made
-- again (step 13's, but for the stored columns, and with LIMIT -1 on the
-- subquery of the fold: without it SQLite flattens that subquery into the
-- outer one and copies the fold into every tpsd_st(f, i), so step 13's
-- trigger folded each week 8 times per metric, this one would 11; a
-- subquery with a LIMIT is not flattened into a join, and folds once).
DROP TRIGGER history_weekly_upd;
CREATE TABLE history_weekly_17 (
    metric TEXT NOT NULL,
    model TEXT NOT NULL,
    case_name TEXT NOT NULL,
    week INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    n INTEGER NOT NULL,
    n_passed INTEGER NOT NULL,
    v_n INTEGER NOT NULL,
    v_sum REAL,
    v_m2 REAL,
    v_min REAL,
    v_max REAL,
    v_p50 REAL,
    v_p90 REAL,
    v_spread_p50 REAL,
    v_spread_p90 REAL,
    PRIMARY KEY (metric, model, case_name, week)
) WITHOUT ROWID;
INSERT INTO history_weekly_17
SELECT metric, model, case_name, week, runs, n, n_passed, v_n, v_sum, v_m2, v_min, v_max, v_p50,
       v_p90, tpsd_spread(v_meds, v_p50, 0), tpsd_spread(v_meds, v_p50, 1)
FROM history_weekly;
DROP TABLE history_weekly;
ALTER TABLE history_weekly_17 RENAME TO history_weekly;
CREATE TRIGGER history_weekly_upd AFTER UPDATE ON history_daily
BEGIN
    INSERT INTO history_weekly (metric, model, case_name, week, runs, n, n_passed, v_n, v_sum, v_m2, v_min, v_max, v_p50, v_p90, v_spread_p50, v_spread_p90)
    SELECT metric, NEW.model, NEW.case_name, week, t.runs, t.n, t.n_passed, tpsd_st(f, 0), tpsd_st(f, 1),
           tpsd_st(f, 2), tpsd_st(f, 3), tpsd_st(f, 4), tpsd_st(f, 5), tpsd_st(f, 6),
           tpsd_spread(tpsd_st(f, 7), tpsd_st(f, 5), 0), tpsd_spread(tpsd_st(f, 7), tpsd_st(f, 5), 1)
    FROM (SELECT m.metric, w.week,
                 (SELECT tpsd_fold(CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_n WHEN 'e2e_tps' THEN d.e2e_tps_n WHEN 'ttft_ms' THEN d.ttft_ms_n ELSE d.prompt_tps_n END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_sum WHEN 'e2e_tps' THEN d.e2e_tps_sum WHEN 'ttft_ms' THEN d.ttft_ms_sum ELSE d.prompt_tps_sum END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_m2 WHEN 'e2e_tps' THEN d.e2e_tps_m2 WHEN 'ttft_ms' THEN d.ttft_ms_m2 ELSE d.prompt_tps_m2 END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_min WHEN 'e2e_tps' THEN d.e2e_tps_min WHEN 'ttft_ms' THEN d.ttft_ms_min ELSE d.prompt_tps_min END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_max WHEN 'e2e_tps' THEN d.e2e_tps_max WHEN 'ttft_ms' THEN d.ttft_ms_max ELSE d.prompt_tps_max END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_p50 WHEN 'e2e_tps' THEN d.e2e_tps_p50 WHEN 'ttft_ms' THEN d.ttft_ms_p50 ELSE d.prompt_tps_p50 END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_p90 WHEN 'e2e_tps' THEN d.e2e_tps_p90 WHEN 'ttft_ms' THEN d.ttft_ms_p90 ELSE d.prompt_tps_p90 END,
                           CASE m.metric WHEN 'decode_tps' THEN d.decode_tps_meds WHEN 'e2e_tps' THEN d.e2e_tps_meds WHEN 'ttft_ms' THEN d.ttft_ms_meds ELSE d.prompt_tps_meds END)
                  FROM history_daily d
                  WHERE d.model = NEW.model AND d.case_name = NEW.case_name
                    AND d.day >= w.week AND d.day < w.week + 604800000) AS f
          FROM (SELECT 'decode_tps' AS metric UNION ALL SELECT 'e2e_tps' UNION ALL SELECT 'ttft_ms' UNION ALL SELECT 'prompt_tps') m
          JOIN (SELECT NEW.day - ((NEW.day - 345600000) % 604800000 + 604800000) % 604800000 AS week) w
          LIMIT -1)
    JOIN (SELECT sum(runs) AS runs, sum(n) AS n, sum(n_passed) AS n_passed FROM history_daily
          WHERE model = NEW.model AND case_name = NEW.case_name
            AND day >= NEW.day - ((NEW.day - 345600000) % 604800000 + 604800000) % 604800000
            AND day < NEW.day - ((NEW.day - 345600000) % 604800000 + 604800000) % 604800000 + 604800000) t
    WHERE true
    ON CONFLICT (metric, model, case_name, week) DO UPDATE SET runs = excluded.runs, n = excluded.n,
        n_passed = excluded.n_passed, v_n = excluded.v_n, v_sum = excluded.v_sum, v_m2 = excluded.v_m2,
        v_min = excluded.v_min, v_max = excluded.v_max, v_p50 = excluded.v_p50, v_p90 = excluded.v_p90,
        v_spread_p50 = excluded.v_spread_p50, v_spread_p90 = excluded.v_spread_p90;
END;

-- migrate: 18
-- Each stored sample wrote 13 pages to the WAL (and fdatasync'd them), four
-- of them for nothing: the ingest trigger's upsert set `at = min(at,
-- excluded.at)` on every sample, and SQLite rewrites every index holding a
-- column that an UPDATE sets, changed or not: history_rollup_at, _model_at,
-- _series (and _undaily) and the unique (run_id, case_name) index. `at`
-- now moves only when a sample started earlier than the rollup's first
-- (a concurrent run's later-stored request), by its own UPDATE whose WHERE
-- is false otherwise: 9 pages a sample, the same rollups (tests/
-- test_storage.c compares them with step 12's trigger). Nothing else changes.
DROP TRIGGER history_rollup_ingest;
CREATE TRIGGER history_rollup_ingest AFTER INSERT ON samples WHEN NEW.warmup = 0
BEGIN
    INSERT INTO history_rollup (run_id, case_name, model, fingerprint, series, suite, at, n, n_ok, n_passed, decode_tps_n, decode_tps_sum, decode_tps_m2, decode_tps_min, decode_tps_max, e2e_tps_n, e2e_tps_sum, e2e_tps_m2, e2e_tps_min, e2e_tps_max, ttft_ms_n, ttft_ms_sum, ttft_ms_m2, ttft_ms_min, ttft_ms_max, prompt_tps_n, prompt_tps_sum, prompt_tps_m2, prompt_tps_min, prompt_tps_max)
    SELECT NEW.run_id,
           NEW.case_name,
           r.model,
           r.fingerprint,
           coalesce(r.fingerprint, r.model),
           r.suite,
           NEW.started_at,
           1,
           NEW.ok = 1,
           NEW.ok = 1 AND coalesce(NEW.passed, 1) != 0,
           (CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.decode_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.decode_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.e2e_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.e2e_tps END,
           (CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 AND NEW.ttft_ms IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           CASE WHEN NEW.ok = 1 THEN NEW.ttft_ms END,
           (CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END) IS NOT NULL,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 AND NEW.prompt_tps IS NOT NULL THEN 0.0 END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END,
           CASE WHEN NEW.ok = 1 THEN NEW.prompt_tps END
    FROM runs r WHERE r.id = NEW.run_id
    ON CONFLICT (run_id, case_name) DO UPDATE SET
        n = n + 1,
        n_ok = n_ok + excluded.n_ok,
        n_passed = n_passed + excluded.n_passed,
        decode_tps_n = decode_tps_n + excluded.decode_tps_n,
        decode_tps_sum = coalesce(decode_tps_sum + excluded.decode_tps_sum, decode_tps_sum, excluded.decode_tps_sum),
        decode_tps_m2 = CASE WHEN excluded.decode_tps_n = 0 THEN decode_tps_m2 WHEN decode_tps_n = 0 THEN 0.0
            ELSE decode_tps_m2 + (excluded.decode_tps_sum - decode_tps_sum / decode_tps_n) * (excluded.decode_tps_sum - (decode_tps_sum + excluded.decode_tps_sum) / (decode_tps_n + 1)) END,
        decode_tps_min = coalesce(min(decode_tps_min, excluded.decode_tps_min), decode_tps_min, excluded.decode_tps_min),
        decode_tps_max = coalesce(max(decode_tps_max, excluded.decode_tps_max), decode_tps_max, excluded.decode_tps_max),
        e2e_tps_n = e2e_tps_n + excluded.e2e_tps_n,
        e2e_tps_sum = coalesce(e2e_tps_sum + excluded.e2e_tps_sum, e2e_tps_sum, excluded.e2e_tps_sum),
        e2e_tps_m2 = CASE WHEN excluded.e2e_tps_n = 0 THEN e2e_tps_m2 WHEN e2e_tps_n = 0 THEN 0.0
            ELSE e2e_tps_m2 + (excluded.e2e_tps_sum - e2e_tps_sum / e2e_tps_n) * (excluded.e2e_tps_sum - (e2e_tps_sum + excluded.e2e_tps_sum) / (e2e_tps_n + 1)) END,
        e2e_tps_min = coalesce(min(e2e_tps_min, excluded.e2e_tps_min), e2e_tps_min, excluded.e2e_tps_min),
        e2e_tps_max = coalesce(max(e2e_tps_max, excluded.e2e_tps_max), e2e_tps_max, excluded.e2e_tps_max),
        ttft_ms_n = ttft_ms_n + excluded.ttft_ms_n,
        ttft_ms_sum = coalesce(ttft_ms_sum + excluded.ttft_ms_sum, ttft_ms_sum, excluded.ttft_ms_sum),
        ttft_ms_m2 = CASE WHEN excluded.ttft_ms_n = 0 THEN ttft_ms_m2 WHEN ttft_ms_n = 0 THEN 0.0
            ELSE ttft_ms_m2 + (excluded.ttft_ms_sum - ttft_ms_sum / ttft_ms_n) * (excluded.ttft_ms_sum - (ttft_ms_sum + excluded.ttft_ms_sum) / (ttft_ms_n + 1)) END,
        ttft_ms_min = coalesce(min(ttft_ms_min, excluded.ttft_ms_min), ttft_ms_min, excluded.ttft_ms_min),
        ttft_ms_max = coalesce(max(ttft_ms_max, excluded.ttft_ms_max), ttft_ms_max, excluded.ttft_ms_max),
        prompt_tps_n = prompt_tps_n + excluded.prompt_tps_n,
        prompt_tps_sum = coalesce(prompt_tps_sum + excluded.prompt_tps_sum, prompt_tps_sum, excluded.prompt_tps_sum),
        prompt_tps_m2 = CASE WHEN excluded.prompt_tps_n = 0 THEN prompt_tps_m2 WHEN prompt_tps_n = 0 THEN 0.0
            ELSE prompt_tps_m2 + (excluded.prompt_tps_sum - prompt_tps_sum / prompt_tps_n) * (excluded.prompt_tps_sum - (prompt_tps_sum + excluded.prompt_tps_sum) / (prompt_tps_n + 1)) END,
        prompt_tps_min = coalesce(min(prompt_tps_min, excluded.prompt_tps_min), prompt_tps_min, excluded.prompt_tps_min),
        prompt_tps_max = coalesce(max(prompt_tps_max, excluded.prompt_tps_max), prompt_tps_max, excluded.prompt_tps_max);
    UPDATE history_rollup SET (decode_tps_p50, decode_tps_p90, e2e_tps_p50, e2e_tps_p90, ttft_ms_p50, ttft_ms_p90, prompt_tps_p50, prompt_tps_p90) =
        (SELECT tpsd_pct(s.decode_tps, 0.5), tpsd_pct(s.decode_tps, 0.9),
            tpsd_pct(s.e2e_tps, 0.5), tpsd_pct(s.e2e_tps, 0.9),
            tpsd_pct(s.ttft_ms, 0.5), tpsd_pct(s.ttft_ms, 0.9),
            tpsd_pct(s.prompt_tps, 0.5), tpsd_pct(s.prompt_tps, 0.9)
         FROM samples s WHERE s.run_id = NEW.run_id AND s.case_name = NEW.case_name
           AND s.warmup = 0 AND s.ok = 1)
    WHERE run_id = NEW.run_id AND case_name = NEW.case_name
      AND NEW.ok = 1 AND (n <= 2000 OR n % 1000 = 0);
    UPDATE history_rollup SET at = NEW.started_at
    WHERE run_id = NEW.run_id AND case_name = NEW.case_name AND at > NEW.started_at;
    UPDATE history_version SET v = v + 1 WHERE id = 1;
END;
