-- Return lines are read by their file and line (a return is applied a part
-- of the file at a time), never by serial: keyed by (file, line), without a
-- surrogate id or a serial index to keep. A file's batch is recorded once, on
-- the file, not on each of its lines.
UPDATE source_files SET batch_no = (SELECT min(r.batch_no) FROM return_lines r WHERE r.source_file_id = source_files.id)
WHERE kind = 'bank_return' AND batch_no IS NULL;
ALTER TABLE return_lines DROP COLUMN id;
ALTER TABLE return_lines DROP CONSTRAINT return_lines_source_file_id_line_no_key;
ALTER TABLE return_lines ADD PRIMARY KEY (source_file_id, line_no);
ALTER TABLE return_lines DROP COLUMN batch_no;

-- A payment settled paid can share an item only with a claim released
-- before (an item has one live claim at most): the double-paid check looks
-- among the released claims alone.
CREATE INDEX payment_items_released ON payment_items (item_id) WHERE released = 1;
