-- Why: undo the schema of 1795322400000_create_tables (drops every table it made, data included).
drop table if exists
  public.stripe_events, public.notifications, public.spend_limits, public.auto_topup_attempts, public.auto_topup_settings,
  public.topup_purchases, public.topup_packages, public.organization_rate_usage, public.organization_usage_daily,
  public.credit_holds, public.credit_balances, public.credit_ledger_entries, public.credit_reservations, public.credit_grants,
  public.plan_capability_quality_levels, public.plan_capabilities, public.llm_models, public.ai_capabilities,
  public.quality_levels, public.organization_subscriptions, public.plans, public.organization_members, public.users,
  public.organizations cascade;
drop function if exists public.refuse_ledger_change(), public.set_updated_at(), public.create_credit_balance_row();
drop schema if exists ledger cascade;
