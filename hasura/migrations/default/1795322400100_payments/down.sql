-- Why: undo 1795322400100_payments: the payment functions and the subscription event time.
drop function if exists public.notify_usage_thresholds(timestamptz);
drop function if exists public.apply_plan_change(uuid, uuid, text, timestamptz, timestamptz, timestamptz);
drop function if exists public.roll_billing_periods(timestamptz);
drop function if exists public.roll_billing_period(uuid, timestamptz);
drop function if exists public.grant_period_allowance(uuid, timestamptz);
drop function if exists public.allowance_ref(timestamptz);
drop function if exists public.resolve_auto_topup_attempt(uuid, text, text, text, text, timestamptz);
drop function if exists public.claim_auto_topup_attempt(uuid, timestamptz);
drop function if exists public.dispute_topup_purchase(text, text, bigint, boolean, text, timestamptz);
drop function if exists public.refund_auto_topup_attempt(text, bigint, text, timestamptz);
drop function if exists public.refund_topup_purchase(text, text, bigint, timestamptz);
drop function if exists ledger.lock_purchase_of_payment(text, text);
drop function if exists ledger.claw_back_refund(text, uuid, uuid, numeric, bigint, bigint, bigint, uuid, text, text, timestamptz);
drop function if exists public.credits_for_minor(numeric, bigint, bigint);
drop function if exists public.fail_topup_purchase(text, text, timestamptz);
drop function if exists public.fulfil_topup_purchase(text, text, timestamptz);
alter table public.auto_topup_attempts drop column if exists amount_refunded_minor;
alter table public.organization_subscriptions drop column if exists stripe_event_at;
