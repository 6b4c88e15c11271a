-- An item is paid by a bank file or in real time, never both: a live claim
-- in one excludes a live claim in the other (the exactly-once rule across
-- payment_items and realtime_credits).
CREATE TRIGGER realtime_credit_excludes_claim BEFORE INSERT ON realtime_credits
WHEN EXISTS (SELECT 1 FROM payment_items WHERE item_id = NEW.item_id AND released = 0)
BEGIN SELECT RAISE(ABORT, 'the item already has a live payment claim'); END;
CREATE TRIGGER claim_excludes_realtime_credit BEFORE INSERT ON payment_items
WHEN EXISTS (SELECT 1 FROM realtime_credits WHERE item_id = NEW.item_id AND state NOT IN ('failed', 'reversed'))
BEGIN SELECT RAISE(ABORT, 'the item already has a live real-time credit'); END;
