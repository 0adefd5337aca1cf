-- Why: undo 1795322400001_ledger_functions (the ledger's functions, views, the grant-expiry trigger
-- and its helpers in schema ledger; the schema itself belongs to 1795322400000_create_tables).
drop trigger if exists credit_grants_note_expiry on public.credit_grants;
drop function if exists public.get_usage_breakdown(uuid, date, date);
drop view if exists public.organization_active_grants;
drop view if exists public.organization_credit_balances;
drop function if exists public.get_credit_balance(uuid, timestamptz);
drop function if exists public.clawback_credits(uuid, numeric, text, text, uuid, timestamptz);
drop function if exists public.expire_grants(timestamptz);
drop function if exists public.expire_reservations(timestamptz);
drop function if exists public.release_reservation(uuid, text, uuid, timestamptz);
drop function if exists public.settle_reservation(uuid, numeric, uuid, jsonb, timestamptz);
drop function if exists public.reserve_credits(uuid, numeric, text, text, text, text, jsonb, uuid, int, timestamptz);
drop function if exists public.grant_credits(uuid, numeric, text, text, timestamptz, int, timestamptz, text, jsonb, timestamptz);
drop function if exists ledger.lock_open_reservation(uuid, uuid), ledger.find_reservation(uuid, uuid),
  ledger.existing_grant(uuid, text, numeric, text), ledger.expire_due_grants(uuid, timestamptz), ledger.note_grant_expiry(),
  ledger.reserved_of(uuid), ledger.lock_organization(uuid), ledger.lock_holds_and_balance(uuid), ledger.lock_holds(uuid), ledger.lock_ledger(uuid),
  ledger.reserved_in(public.credit_holds, public.credit_balances), ledger.balance_of(public.credit_balances), ledger.remaining_of(public.credit_balances),
  ledger.bucket_of(text), ledger.check_amount(numeric, text, boolean), ledger.raise_error(text, text, jsonb);
