-- A payment a return file paid keeps only its state: the bank's code, text
-- and reference, and the time, are on the return line that paid it, found
-- by the payment (at most one line per payment is applied and paid).
CREATE INDEX return_lines_paid ON return_lines (payment_id) WHERE finding = 'applied' AND outcome = 'paid';
