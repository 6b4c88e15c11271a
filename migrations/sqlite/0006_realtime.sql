-- The real-time bank channel (iso8583.md): urgent credits over ISO 8583,
-- account verifications, and the STANs used each day.

-- One row per credit (0200) attempt, written before it is sent. The item's
-- key is paid at most once: at most one live credit per item (a credit that
-- failed or was reversed no longer counts), and an RRN is never used twice.
CREATE TABLE realtime_credits (
    id INTEGER PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items (id),
    person_id TEXT NOT NULL REFERENCES persons (person_id),
    card_id BIGINT NOT NULL REFERENCES cards (id),
    bank_code TEXT NOT NULL,
    account_no TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    serial_no TEXT NOT NULL UNIQUE,
    rrn TEXT NOT NULL UNIQUE CHECK (length(rrn) = 12),
    stan TEXT NOT NULL,
    -- field 7 of the credit, MMDDhhmmss UTC: a reversal's field 90 points at it
    transmitted TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'paid', 'failed', 'unknown', 'reversing', 'reversed')),
    response_code TEXT,
    reversal_stan TEXT,
    reversal_code TEXT,
    reversal_attempts BIGINT NOT NULL DEFAULT 0,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- milliseconds since the epoch of the last step: a credit left untouched
    -- longer than its timeout belongs to no live process and is recovered
    touched_ms BIGINT NOT NULL,
    settled_at TEXT
);
CREATE UNIQUE INDEX realtime_credits_one_live ON realtime_credits (item_id) WHERE state NOT IN ('failed', 'reversed');
CREATE INDEX realtime_credits_open ON realtime_credits (bank_code) WHERE state IN ('sent', 'unknown', 'reversing');
CREATE INDEX realtime_credits_person ON realtime_credits (person_id);

-- Every verification answer (or its absence), for audit; the card keeps the latest.
CREATE TABLE account_verifications (
    id INTEGER PRIMARY KEY,
    card_id BIGINT NOT NULL REFERENCES cards (id),
    bank_code TEXT NOT NULL,
    account_no TEXT NOT NULL,
    stan TEXT NOT NULL,
    rrn TEXT NOT NULL,
    response_code TEXT,
    result TEXT NOT NULL CHECK (result IN ('verified', 'invalid', 'unknown')),
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX account_verifications_card ON account_verifications (card_id);

-- STANs are unique per client per day: handed out in blocks per bank and day.
CREATE TABLE iso_stans (
    bank_code TEXT NOT NULL,
    day TEXT NOT NULL,
    next_stan BIGINT NOT NULL,
    PRIMARY KEY (bank_code, day)
);
