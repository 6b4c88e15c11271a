-- Runs look for items still due (pending, held, failed). A partial index on
-- those states serves them, and the frequent sent -> paid changes no longer
-- rewrite an index entry per item.
DROP INDEX items_state;
CREATE INDEX items_open ON items (person_id) WHERE state IN ('pending', 'held', 'failed');
