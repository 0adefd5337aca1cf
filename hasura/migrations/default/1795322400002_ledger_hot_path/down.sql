-- Why: undo 1795322400002_ledger_hot_path. The functions it replaced are not restored here: roll
-- back 1795322400001_ledger_functions as well and apply both again.
drop trigger if exists credit_grants_note_expiry on public.credit_grants;
drop function if exists ledger.note_grant_expiry();
drop function if exists ledger.lock_for_resolve(uuid, uuid, timestamptz);
alter table public.credit_balances drop column if exists next_expiry_at;
