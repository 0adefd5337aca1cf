-- Why: undo 1795322400003_hot_rows_stay_hot's indexes and storage settings (the functions it
-- replaced are not restored: roll back the earlier ledger migrations too and apply them again).
alter table public.credit_balances reset (fillfactor);
alter table public.credit_grants reset (fillfactor);
alter table public.organization_usage_daily reset (fillfactor);
alter table public.organization_rate_usage reset (fillfactor);
drop index if exists public.credit_grants_due_idx;
drop index if exists public.credit_grants_org_expires_idx;
drop index if exists public.credit_grants_burn_order_idx;
create index credit_grants_burn_order_idx on public.credit_grants
  (organization_id, (source <> 'plan_allowance'), priority, expires_at nulls last, created_at, id)
  where remaining_credits > 0;
create index credit_grants_expiry_idx on public.credit_grants (organization_id, expires_at)
  where remaining_credits > 0 and expires_at is not null;
create index credit_grants_due_idx on public.credit_grants (expires_at)
  where remaining_credits > 0 and expires_at is not null;
