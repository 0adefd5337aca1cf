-- Why: undo 1795322401000_auto_topup_turned_on_again.
drop trigger auto_topup_settings_turned_on_again on public.auto_topup_settings;
drop function ledger.auto_topup_turned_on_again();
