-- SQLite evaluates a CHECK written `col IN ('a', 'b', …)` by building a
-- temporary index for every row it writes: a microsecond a row, a second of
-- every million-row update of a payment's or an item's state. The same
-- constraints written `col = 'a' OR col = 'b' …` cost next to nothing.
--
-- A change that does not touch what is stored on disk, made as SQLite's
-- documentation describes ("Making Other Kinds Of Table Schema Changes"):
-- the schema text is rewritten in place, and the schema cookie is bumped (below) so
-- that every open connection reads it again. PostgreSQL has no such cost and
-- no such migration.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (result IN (''verified'', ''invalid'', ''unknown''))',
    'CHECK (result = ''verified'' OR result = ''invalid'' OR result = ''unknown'')')
WHERE type = 'table' AND name = 'account_verifications';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (state IN (''open'', ''resolved''))',
    'CHECK (state = ''open'' OR state = ''resolved'')')
WHERE type = 'table' AND name = 'anomalies';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (kind IN (''api'', ''session''))',
    'CHECK (kind = ''api'' OR kind = ''session'')')
WHERE type = 'table' AND name = 'api_tokens';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (state IN (''scheduled'', ''exported'', ''closed'', ''discarded''))',
    'CHECK (state = ''scheduled'' OR state = ''exported'' OR state = ''closed'' OR state = ''discarded'')')
WHERE type = 'table' AND name = 'batches';
UPDATE sqlite_schema SET sql = replace(replace(sql,
    'CHECK (state IN (''applied'', ''in_production'', ''made'', ''rejected'', ''active'', ''lost'', ''cancelled''))',
    'CHECK (state = ''applied'' OR state = ''in_production'' OR state = ''made'' OR state = ''rejected'' OR state = ''active'' OR state = ''lost'' OR state = ''cancelled'')'),
    'CHECK (verification IN (''unverified'', ''verified'', ''invalid''))',
    'CHECK (verification = ''unverified'' OR verification = ''verified'' OR verification = ''invalid'')')
WHERE type = 'table' AND name = 'cards';
UPDATE sqlite_schema SET sql = replace(replace(sql,
    'CHECK (origin IN (''roster'', ''computed'', ''relief''))',
    'CHECK (origin = ''roster'' OR origin = ''computed'' OR origin = ''relief'')'),
    'CHECK (state IN (''pending'', ''held'', ''scheduled'', ''approved'', ''sent'', ''paid'', ''failed'', ''unconfirmed'', ''cancelled'', ''not_payable''))',
    'CHECK (state = ''pending'' OR state = ''held'' OR state = ''scheduled'' OR state = ''approved'' OR state = ''sent'' OR state = ''paid'' OR state = ''failed'' OR state = ''unconfirmed'' OR state = ''cancelled'' OR state = ''not_payable'')')
WHERE type = 'table' AND name = 'items';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (outcome IN (''running'', ''ok'', ''failed''))',
    'CHECK (outcome = ''running'' OR outcome = ''ok'' OR outcome = ''failed'')')
WHERE type = 'table' AND name = 'job_runs';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (released IN (0, 1))',
    'CHECK (released = 0 OR released = 1)')
WHERE type = 'table' AND name = 'payment_items';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (state IN (''scheduled'', ''approved'', ''sent'', ''paid'', ''failed'', ''unconfirmed'', ''discarded''))',
    'CHECK (state = ''scheduled'' OR state = ''approved'' OR state = ''sent'' OR state = ''paid'' OR state = ''failed'' OR state = ''unconfirmed'' OR state = ''discarded'')')
WHERE type = 'table' AND name = 'payments';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (gender IN (''1'', ''2''))',
    'CHECK (gender = ''1'' OR gender = ''2'')')
WHERE type = 'table' AND name = 'persons';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (state IN (''sent'', ''paid'', ''failed'', ''unknown'', ''reversing'', ''reversed''))',
    'CHECK (state = ''sent'' OR state = ''paid'' OR state = ''failed'' OR state = ''unknown'' OR state = ''reversing'' OR state = ''reversed'')')
WHERE type = 'table' AND name = 'realtime_credits';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (outcome IN (''paid'', ''failed'', ''in_flight''))',
    'CHECK (outcome = ''paid'' OR outcome = ''failed'' OR outcome = ''in_flight'')')
WHERE type = 'table' AND name = 'return_lines';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (state IN (''draft'', ''approved'', ''exported'', ''closed'', ''discarded''))',
    'CHECK (state = ''draft'' OR state = ''approved'' OR state = ''exported'' OR state = ''closed'' OR state = ''discarded'')')
WHERE type = 'table' AND name = 'runs';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (kind IN (''registry'', ''roster'', ''bank_return'', ''card_return''))',
    'CHECK (kind = ''registry'' OR kind = ''roster'' OR kind = ''bank_return'' OR kind = ''card_return'')')
WHERE type = 'table' AND name = 'source_files';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (role IN (''caseworker'', ''supervisor'', ''auditor'', ''admin''))',
    'CHECK (role = ''caseworker'' OR role = ''supervisor'' OR role = ''auditor'' OR role = ''admin'')')
WHERE type = 'table' AND name = 'users';
PRAGMA writable_schema = OFF;
-- Any schema change bumps the schema cookie: connections read the schema
-- text again before their next statement (the store also reconnects after
-- migrating, for the connection that ran them).
CREATE TABLE schema_cookie_bump (x INTEGER);
DROP TABLE schema_cookie_bump;
