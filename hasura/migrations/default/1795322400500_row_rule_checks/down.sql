alter table public.credit_reservations drop constraint credit_reservations_state_check,
  add constraint credit_reservations_state_check check (
    amount_credits > 0 and length(idempotency_key) between 1 and 255 and expires_at > created_at
    and case status
      when 'open' then resolved_at is null and settled_amount_credits is null and not capped
      when 'settled' then resolved_at is not null and settled_amount_credits is not null and settled_amount_credits >= 0
      else status in ('released', 'expired') and resolved_at is not null and settled_amount_credits is null and not capped
    end);
alter table public.credit_grants drop constraint credit_grants_state_check,
  add constraint credit_grants_state_check check (
    source in ('plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration')
    and amount_credits > 0 and remaining_credits between 0 and amount_credits and length(external_ref) > 0
    and (expires_at is null or expires_at > effective_at));
alter table public.credit_ledger_entries drop constraint credit_ledger_entries_sign_check,
  add constraint credit_ledger_entries_sign_check check (case
    when entry_type in ('grant', 'adjustment') then amount_credits > 0
    when entry_type in ('consume', 'expire', 'clawback') then amount_credits < 0
    else false end);
alter table public.credit_balances drop constraint credit_balances_amounts_check,
  add constraint credit_balances_amounts_check check (least(allowance_remaining_credits, purchased_remaining_credits,
    bonus_remaining_credits, debt_credits, released_credits, spend_day_credits, spend_month_credits) >= 0);
drop function ledger.balance_row_ok(numeric, numeric, numeric, numeric, numeric, numeric, numeric);
drop function ledger.ledger_entry_row_ok(text, numeric);
drop function ledger.grant_row_ok(text, numeric, numeric, text, timestamptz, timestamptz);
drop function ledger.reservation_row_ok(numeric, text, timestamptz, timestamptz, text, timestamptz, numeric, boolean);
