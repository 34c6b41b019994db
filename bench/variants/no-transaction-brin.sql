-- The log without the consumers' BRIN index on transaction_id (migration
-- 000014): what the index costs every audited write, measured against the
-- migrated schema in the same run (npm run bench -- --only writes,bulk
-- --variants migrated,no-transaction-brin).
drop index if exists audit.log_transaction_id_brin_idx;
