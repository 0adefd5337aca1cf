-- Why: undo 1795322400800_unpaid_period_allowance.
drop function public.revoke_period_allowance(uuid, text, timestamptz);
