drop trigger auto_topup_settings_check on public.auto_topup_settings;
drop function ledger.request_auto_topup_check_on_settings();
delete from public.auto_topup_checks where ledger_entry_id is null;
alter table public.auto_topup_checks alter column ledger_entry_id set not null;
