-- Return lines are read by their file and line (a return is applied a part
-- of the file at a time), never by serial: the lines of a million-line return
-- are stored in the order of their key, without a rowid, a second unique
-- index or a serial index to keep. A file's batch is recorded once, on the
-- file, not on each of its lines.
UPDATE source_files SET batch_no = (SELECT min(r.batch_no) FROM return_lines r WHERE r.source_file_id = source_files.id)
WHERE kind = 'bank_return' AND batch_no IS NULL;
CREATE TABLE return_lines_by_file (
    source_file_id BIGINT NOT NULL REFERENCES source_files (id),
    line_no BIGINT NOT NULL,
    serial_no TEXT NOT NULL,
    payment_id BIGINT REFERENCES payments (id),
    outcome TEXT NOT NULL CHECK (outcome = 'paid' OR outcome = 'failed' OR outcome = 'in_flight'),
    status_code TEXT,
    amount_fen BIGINT,
    account_no TEXT,
    reason_code TEXT,
    reason_text TEXT,
    bank_ref TEXT,
    -- applied, or the anomaly code it raised
    finding TEXT NOT NULL,
    PRIMARY KEY (source_file_id, line_no)
) WITHOUT ROWID;
INSERT INTO return_lines_by_file
SELECT source_file_id, line_no, serial_no, payment_id, outcome, status_code, amount_fen, account_no, reason_code,
       reason_text, bank_ref, finding
FROM return_lines;
DROP TABLE return_lines;
ALTER TABLE return_lines_by_file RENAME TO return_lines;

-- A payment settled paid can share an item only with a claim released
-- before (an item has one live claim at most): the double-paid check looks
-- among the released claims alone.
CREATE INDEX payment_items_released ON payment_items (item_id) WHERE released = 1;
