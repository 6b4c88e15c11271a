-- onecard schema, shared text of both engines. `migrations/gen.sh` expands
-- INTEGER PRIMARY KEY (auto-increment primary key) per engine into migrations/<engine>/.
-- Money is integer fen (BIGINT); dates and months are ISO text
-- ('YYYY-MM-DD', 'YYYY-MM'); times are UTC RFC 3339 text.

-- Every input file ever applied, identified by its bytes.
CREATE TABLE source_files (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('registry', 'roster', 'bank_return', 'card_return')),
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    encoding TEXT NOT NULL,
    rows_total BIGINT NOT NULL,
    rows_accepted BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    program TEXT,
    period TEXT,
    batch_no TEXT,
    imported_at TEXT NOT NULL,
    UNIQUE (kind, sha256)
);

-- The registry of cardholders (persons), keyed by the normalised person id.
CREATE TABLE persons (
    person_id TEXT PRIMARY KEY CHECK (length(person_id) = 18),
    name TEXT NOT NULL,
    region_code TEXT NOT NULL CHECK (length(region_code) = 12),
    gender TEXT NOT NULL CHECK (gender IN ('1', '2')),
    birth_date TEXT NOT NULL,
    phone TEXT,
    death_date TEXT,
    source_file_id BIGINT REFERENCES source_files (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX persons_region ON persons (region_code);
CREATE INDEX persons_name ON persons (name);

-- Cards and the applications that lead to them (card-issuance.md).
CREATE TABLE cards (
    id INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons (person_id),
    application_id TEXT UNIQUE,
    card_no TEXT UNIQUE,
    bank_code TEXT NOT NULL,
    account_no TEXT,
    state TEXT NOT NULL CHECK (state IN ('applied', 'in_production', 'made', 'rejected', 'active', 'lost', 'cancelled')),
    batch_no TEXT,
    reason_code TEXT,
    reason_text TEXT,
    verification TEXT NOT NULL DEFAULT 'unverified' CHECK (verification IN ('unverified', 'verified', 'invalid')),
    verification_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (state NOT IN ('made', 'active', 'lost') OR (card_no IS NOT NULL AND account_no IS NOT NULL))
);
-- At most one active card per person.
CREATE UNIQUE INDEX cards_one_active ON cards (person_id) WHERE state = 'active';
CREATE INDEX cards_person ON cards (person_id);

-- Every card transition, with who and when.
CREATE TABLE card_events (
    id INTEGER PRIMARY KEY,
    card_id BIGINT NOT NULL REFERENCES cards (id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT,
    at TEXT NOT NULL
);
CREATE INDEX card_events_card ON card_events (card_id);

-- Roster lines exactly as delivered (after row validation).
CREATE TABLE roster_lines (
    id INTEGER PRIMARY KEY,
    source_file_id BIGINT NOT NULL REFERENCES source_files (id),
    line_no BIGINT NOT NULL,
    program TEXT NOT NULL,
    period TEXT NOT NULL,
    benefit_month TEXT NOT NULL,
    person_id TEXT NOT NULL,
    name TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    region_code TEXT NOT NULL,
    source_ref TEXT,
    UNIQUE (source_file_id, line_no),
    CHECK (benefit_month <= period)
);
CREATE INDEX roster_lines_period ON roster_lines (period, person_id);
CREATE INDEX roster_lines_person ON roster_lines (person_id);

-- Payout runs: draft -> approved -> exported -> closed, or discarded.
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    period TEXT NOT NULL,
    seq BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported', 'closed', 'discarded')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    approved_count BIGINT,
    approved_amount_fen BIGINT,
    exported_at TEXT,
    closed_at TEXT,
    discarded_at TEXT,
    UNIQUE (period, seq),
    CHECK (approved_by IS NULL OR approved_by <> created_by)
);
-- One draft per period at a time.
CREATE UNIQUE INDEX runs_one_draft ON runs (period) WHERE state = 'draft';

-- An item: one benefit for one person and one benefit month. The key is paid at most once, ever.
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    person_id TEXT NOT NULL,
    program TEXT NOT NULL,
    benefit_month TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    origin TEXT NOT NULL CHECK (origin IN ('roster', 'computed', 'relief')),
    roster_line_id BIGINT REFERENCES roster_lines (id),
    -- pending: due and not yet decided (new, or its draft run was discarded).
    state TEXT NOT NULL CHECK (state IN ('pending', 'held', 'scheduled', 'approved', 'sent', 'paid', 'failed', 'unconfirmed', 'cancelled', 'not_payable')),
    hold_code TEXT,
    hold_detail TEXT,
    retry_ordered INTEGER NOT NULL DEFAULT 0,
    cancel_reason TEXT,
    first_run_id TEXT REFERENCES runs (run_id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (person_id, program, benefit_month)
);
CREATE INDEX items_state ON items (state, person_id);

-- The roster files a run took its lines from: a later run of the same period
-- takes only files no live run has taken.
CREATE TABLE run_files (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    source_file_id BIGINT NOT NULL REFERENCES source_files (id),
    PRIMARY KEY (run_id, source_file_id)
);
CREATE INDEX run_files_file ON run_files (source_file_id);

-- Batches: one request file per bank per run.
CREATE TABLE batches (
    batch_no TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    bank_code TEXT NOT NULL,
    layout TEXT NOT NULL,
    value_date TEXT NOT NULL,
    payment_count BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL,
    file_name TEXT,
    sha256 TEXT,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'exported', 'closed', 'discarded')),
    exported_at TEXT,
    closed_at TEXT,
    UNIQUE (run_id, bank_code)
);

-- A payment: one line in one bank file, the sum of one person's payable items.
CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    batch_no TEXT NOT NULL REFERENCES batches (batch_no),
    seq BIGINT NOT NULL,
    serial_no TEXT NOT NULL UNIQUE,
    person_id TEXT NOT NULL REFERENCES persons (person_id),
    card_id BIGINT NOT NULL REFERENCES cards (id),
    bank_code TEXT NOT NULL,
    account_no TEXT NOT NULL,
    account_name TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    remark TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'approved', 'sent', 'paid', 'failed', 'unconfirmed', 'discarded')),
    bank_reason TEXT,
    bank_reason_code TEXT,
    bank_reason_text TEXT,
    bank_ref TEXT,
    created_at TEXT NOT NULL,
    settled_at TEXT,
    UNIQUE (batch_no, seq),
    UNIQUE (run_id, person_id)
);
CREATE INDEX payments_person ON payments (person_id);

-- Which items a payment pays. A claim is released when its payment fails or
-- is discarded; at most one unreleased claim per item: the exactly-once rule.
CREATE TABLE payment_items (
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    item_id BIGINT NOT NULL REFERENCES items (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    released INTEGER NOT NULL DEFAULT 0 CHECK (released IN (0, 1)),
    PRIMARY KEY (payment_id, item_id)
);
CREATE UNIQUE INDEX payment_items_one_live_claim ON payment_items (item_id) WHERE released = 0;
CREATE INDEX payment_items_item ON payment_items (item_id);

-- Every anomaly with what it concerns and what raised it. dedupe_key makes
-- raising the same finding twice (a rerun, a re-delivery) a no-op.
CREATE TABLE anomalies (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    person_id TEXT,
    region_code TEXT,
    program TEXT,
    benefit_month TEXT,
    period TEXT,
    item_id BIGINT REFERENCES items (id),
    payment_id BIGINT REFERENCES payments (id),
    roster_line_id BIGINT REFERENCES roster_lines (id),
    run_id TEXT REFERENCES runs (run_id),
    batch_no TEXT,
    source_file_id BIGINT REFERENCES source_files (id),
    detail TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    resolution TEXT,
    resolved_by TEXT,
    resolved_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX anomalies_code ON anomalies (code, period);
CREATE INDEX anomalies_person ON anomalies (person_id);
CREATE INDEX anomalies_region ON anomalies (region_code);

-- Users of the caseworker desk.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('caseworker', 'supervisor', 'auditor', 'admin')),
    scope TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Append-only access log with a SHA-256 chain over the previous entry.
CREATE TABLE access_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);

-- Scheduled job executions; a job fires once per scheduled time.
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    holder TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'failed')),
    error TEXT,
    counts TEXT,
    UNIQUE (job, scheduled_for)
);
