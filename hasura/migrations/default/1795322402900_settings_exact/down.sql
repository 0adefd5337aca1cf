drop trigger a_exact_credits on public.auto_topup_settings;
drop trigger a_exact_credits on public.spend_limits;
drop function ledger.exact_credit_settings();
drop function ledger.setting_credits(numeric, text);
drop trigger auto_topup_settings_check on public.auto_topup_settings;
alter table public.auto_topup_settings alter column threshold_credits type numeric(20, 3);
create trigger auto_topup_settings_check after insert or update of enabled, threshold_credits, package_id
  on public.auto_topup_settings
  for each row execute function ledger.request_auto_topup_check_on_settings();
alter table public.spend_limits
  alter column daily_limit_credits type numeric(20, 3),
  alter column monthly_limit_credits type numeric(20, 3),
  alter column per_call_limit_credits type numeric(20, 3);
