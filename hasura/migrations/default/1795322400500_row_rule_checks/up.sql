-- Why: Postgres does not keep a table's CHECK constraints ready between statements. Every INSERT
-- or UPDATE parses each one from its stored node text (pg_constraint.conbin), plans it and builds
-- its expression again. The four largest checks of the ledger's hot tables ran to 1.7-6.5 kB of node
-- text each (every constant and column reference is a long record, and an IN list is an array of
-- them), and a reserve -> settle pair writes those tables five times: about 22 kB parsed per AI
-- call, which a CPU profile showed as one of the largest single costs of the pair.
--
-- Each of the four now calls an IMMUTABLE plpgsql function with the row's columns: the stored
-- expression is one function call (0.5-1.5 kB), and the rules live in the function, whose
-- compiled form plpgsql keeps for the session. The rules, the constraint names and the errors are
-- unchanged: a violation is still SQLSTATE 23514 naming the constraint, and NULL still passes, as
-- an inline CHECK. Measured with pgbench on 100 organizations at 8 connections, three runs of each,
-- alternated: 1,373-1,514 pairs/s before, 1,587-1,714 after (+12%); see docs/ledger.md.
--
-- The functions leave search_path alone (a SET clause would save and restore it on every row):
-- they use only built-in operators and functions, which resolve in pg_catalog, searched first.
--
-- Example: insert a reservation with status 'settled' and no resolved_at -> ERROR 23514 new row for
-- relation "credit_reservations" violates check constraint "credit_reservations_state_check".

create function ledger.reservation_row_ok(
  p_amount numeric, p_idempotency_key text, p_expires_at timestamptz, p_created_at timestamptz, p_status text,
  p_resolved_at timestamptz, p_settled_amount numeric, p_capped boolean
) returns boolean
  language plpgsql immutable as $$
begin
  -- The amount, the key, and the states: open (unresolved, nothing settled), settled (with the
  -- amount charged, possibly capped), released or expired (resolved, nothing charged).
  return p_amount > 0 and length(p_idempotency_key) between 1 and 255 and p_expires_at > p_created_at
    and case p_status
      when 'open' then p_resolved_at is null and p_settled_amount is null and not p_capped
      when 'settled' then p_resolved_at is not null and p_settled_amount is not null and p_settled_amount >= 0
      else p_status in ('released', 'expired') and p_resolved_at is not null and p_settled_amount is null and not p_capped
    end;
end;
$$;
comment on function ledger.reservation_row_ok(numeric, text, timestamptz, timestamptz, text, timestamptz, numeric, boolean) is
  'The rules of one credit_reservations row (its CHECK constraint credit_reservations_state_check).';

create function ledger.grant_row_ok(
  p_source text, p_amount numeric, p_remaining numeric, p_external_ref text, p_expires_at timestamptz, p_effective_at timestamptz
) returns boolean
  language plpgsql immutable as $$
begin
  return p_source in ('plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration')
    and p_amount > 0 and p_remaining between 0 and p_amount and length(p_external_ref) > 0
    and (p_expires_at is null or p_expires_at > p_effective_at);
end;
$$;
comment on function ledger.grant_row_ok(text, numeric, numeric, text, timestamptz, timestamptz) is
  'The rules of one credit_grants row (its CHECK constraint credit_grants_state_check).';

create function ledger.ledger_entry_row_ok(p_entry_type text, p_amount numeric) returns boolean
  language plpgsql immutable as $$
begin
  -- Grants and adjustments add credits; consume, expire and clawback entries take them.
  return case
    when p_entry_type in ('grant', 'adjustment') then p_amount > 0
    when p_entry_type in ('consume', 'expire', 'clawback') then p_amount < 0
    else false end;
end;
$$;
comment on function ledger.ledger_entry_row_ok(text, numeric) is
  'The rules of one credit_ledger_entries row (its CHECK constraint credit_ledger_entries_sign_check).';

create function ledger.balance_row_ok(
  p_allowance numeric, p_purchased numeric, p_bonus numeric, p_debt numeric, p_released numeric, p_spend_day numeric,
  p_spend_month numeric
) returns boolean
  language plpgsql immutable as $$
begin
  return least(p_allowance, p_purchased, p_bonus, p_debt, p_released, p_spend_day, p_spend_month) >= 0;
end;
$$;
comment on function ledger.balance_row_ok(numeric, numeric, numeric, numeric, numeric, numeric, numeric) is
  'The rules of one credit_balances row (its CHECK constraint credit_balances_amounts_check).';

-- Added NOT VALID and then validated, so that existing rows are checked without blocking writes.
alter table public.credit_reservations drop constraint credit_reservations_state_check,
  add constraint credit_reservations_state_check check (ledger.reservation_row_ok(amount_credits, idempotency_key, expires_at,
    created_at, status, resolved_at, settled_amount_credits, capped)) not valid;
alter table public.credit_grants drop constraint credit_grants_state_check,
  add constraint credit_grants_state_check check (ledger.grant_row_ok(source, amount_credits, remaining_credits, external_ref,
    expires_at, effective_at)) not valid;
alter table public.credit_ledger_entries drop constraint credit_ledger_entries_sign_check,
  add constraint credit_ledger_entries_sign_check check (ledger.ledger_entry_row_ok(entry_type, amount_credits)) not valid;
alter table public.credit_balances drop constraint credit_balances_amounts_check,
  add constraint credit_balances_amounts_check check (ledger.balance_row_ok(allowance_remaining_credits,
    purchased_remaining_credits, bonus_remaining_credits, debt_credits, released_credits, spend_day_credits,
    spend_month_credits)) not valid;
alter table public.credit_reservations validate constraint credit_reservations_state_check;
alter table public.credit_grants validate constraint credit_grants_state_check;
alter table public.credit_ledger_entries validate constraint credit_ledger_entries_sign_check;
alter table public.credit_balances validate constraint credit_balances_amounts_check;
