-- An item is paid by a bank file or in real time, never both: a live claim
-- in one excludes a live claim in the other (the exactly-once rule across
-- payment_items and realtime_credits).
CREATE FUNCTION realtime_credit_excludes_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM payment_items WHERE item_id = NEW.item_id AND released = 0) THEN
        RAISE EXCEPTION 'the item already has a live payment claim';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER realtime_credit_excludes_claim BEFORE INSERT ON realtime_credits
FOR EACH ROW EXECUTE FUNCTION realtime_credit_excludes_claim();
CREATE FUNCTION claim_excludes_realtime_credit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM realtime_credits WHERE item_id = NEW.item_id AND state NOT IN ('failed', 'reversed')) THEN
        RAISE EXCEPTION 'the item already has a live real-time credit';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER claim_excludes_realtime_credit BEFORE INSERT ON payment_items
FOR EACH ROW EXECUTE FUNCTION claim_excludes_realtime_credit();
