-- Return files (回盘): every detail the banks sent back, with what it was
-- found to be. Matching is by serial number within the batch.
CREATE TABLE return_lines (
    id INTEGER PRIMARY KEY,
    source_file_id BIGINT NOT NULL REFERENCES source_files (id),
    line_no BIGINT NOT NULL,
    batch_no TEXT NOT NULL,
    serial_no TEXT NOT NULL,
    payment_id BIGINT REFERENCES payments (id),
    outcome TEXT NOT NULL CHECK (outcome IN ('paid', 'failed', 'in_flight')),
    status_code TEXT,
    amount_fen BIGINT,
    account_no TEXT,
    reason_code TEXT,
    reason_text TEXT,
    bank_ref TEXT,
    -- applied, or the anomaly code it raised
    finding TEXT NOT NULL,
    UNIQUE (source_file_id, line_no)
);
CREATE INDEX return_lines_serial ON return_lines (batch_no, serial_no);
