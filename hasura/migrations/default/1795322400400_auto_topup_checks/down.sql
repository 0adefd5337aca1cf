drop trigger credit_ledger_entries_auto_topup_check on public.credit_ledger_entries;
drop function ledger.request_auto_topup_check();
drop table public.auto_topup_checks;
