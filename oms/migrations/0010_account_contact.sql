-- Back office finds clients by email and name as well as by login (ListAccounts' query).
ALTER TABLE oms.accounts ADD COLUMN email text, ADD COLUMN name text;
CREATE INDEX accounts_email_idx ON oms.accounts (lower(email));
