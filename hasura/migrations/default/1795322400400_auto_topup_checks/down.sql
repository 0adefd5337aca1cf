-- Why: undo 1795322400400_auto_topup_checks (the auto_topup_checks table, and the triggers that write a
-- check when a spend or a settings change may take an organization below its threshold).
drop trigger auto_topup_settings_check on public.auto_topup_settings;
drop function ledger.request_auto_topup_check_on_settings();
drop trigger credit_ledger_entries_auto_topup_check on public.credit_ledger_entries;
drop function ledger.request_auto_topup_check();
drop function ledger.write_auto_topup_check(public.auto_topup_settings, bigint, timestamptz);
drop table public.auto_topup_checks;
