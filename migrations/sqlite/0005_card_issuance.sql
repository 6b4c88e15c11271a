-- Card issuance (card-issuance.md): card-making batches exchanged with the
-- card-issuing banks, and what an application needs beyond the card row.

-- A card-making batch: one request file to one issuing bank.
CREATE TABLE card_batches (
    batch_no TEXT PRIMARY KEY,
    bank_code TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    application_count BIGINT NOT NULL CHECK (application_count > 0),
    answered_count BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    exported_at TEXT NOT NULL
);

-- The card a replacement (补换) replaces: cancelled when the new card becomes active.
ALTER TABLE cards ADD COLUMN replaces_card_id BIGINT REFERENCES cards (id);
-- The application's line in its card-making request file.
ALTER TABLE cards ADD COLUMN batch_seq BIGINT;

-- At most one card on its way per person (applied, in production, or made and
-- waiting to be handed over).
CREATE UNIQUE INDEX cards_one_in_progress ON cards (person_id) WHERE state IN ('applied', 'in_production', 'made');
CREATE INDEX cards_batch ON cards (batch_no, batch_seq);
CREATE INDEX cards_applied ON cards (bank_code, id) WHERE state = 'applied';
CREATE INDEX card_events_at ON card_events (at);

-- Bulk application files applied, so identical bytes are applied once: a
-- ledger of the same shape as source_files (whose kinds are fixed by a CHECK).
CREATE TABLE card_application_files (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind = 'card_applications'),
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
