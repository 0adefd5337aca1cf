-- Why: the spend limits and the auto top-up threshold are numeric(20, 3) columns that owners and
-- admins write through GraphQL. Postgres rounds a value with more places to three on the way in, so
-- 1.0005 was stored as 1.001 and 0.0004 became 0 (then refused, by the zero check, with a message
-- about a value nobody sent). The ledger refuses more precise amounts rather than rounding them;
-- its settings now do too. The columns become plain numeric (no table rewrite: only the type
-- modifier goes) and a trigger refuses a value finer than a thousandth, or one too
-- large for numeric(20, 3), with a check violation (Hasura: constraint-violation) that names the
-- column, and stores the others with three places, as before.
--
-- Example: update spend_limits set per_call_limit_credits = 1.0005 -> before: stored 1.001; now:
-- SQLSTATE 23514 "per_call_limit_credits must be counted in thousandths of a credit at most (not
-- 1.0005): nothing was rounded", nothing written. 2.5 is stored as 2.500.

alter table public.spend_limits
  alter column daily_limit_credits type numeric,
  alter column monthly_limit_credits type numeric,
  alter column per_call_limit_credits type numeric;
-- auto_topup_settings_check names threshold_credits among its columns, which a type change refuses:
-- it is dropped and made again as it was (1795322400400_auto_topup_checks).
drop trigger auto_topup_settings_check on public.auto_topup_settings;
alter table public.auto_topup_settings alter column threshold_credits type numeric;
create trigger auto_topup_settings_check after insert or update of enabled, threshold_credits, package_id
  on public.auto_topup_settings
  for each row execute function ledger.request_auto_topup_check_on_settings();

-- The value with three places, or a check violation naming the column when it has more (or is too
-- large for numeric(20, 3)).
create function ledger.setting_credits(p_value numeric, p_column text) returns numeric
  language plpgsql immutable set search_path = '' as $$
begin
  if p_value is null then
    return null;
  end if;
  if p_value <> round(p_value, 3) or abs(p_value) >= 100000000000000000 then
    raise exception using
      errcode = 'check_violation',
      message = format('%s must be counted in thousandths of a credit at most, and below 10^17 (not %s): nothing was rounded',
        p_column, p_value),
      column = p_column;
  end if;
  return p_value::numeric(20, 3);
end;
$$;
comment on function ledger.setting_credits(numeric, text) is
  'A credits setting with three decimal places; a check violation naming the column for more places or a value beyond numeric(20, 3) (settings are refused, never rounded).';

create function ledger.exact_credit_settings() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  if tg_table_name = 'spend_limits' then
    new.daily_limit_credits := ledger.setting_credits(new.daily_limit_credits, 'daily_limit_credits');
    new.monthly_limit_credits := ledger.setting_credits(new.monthly_limit_credits, 'monthly_limit_credits');
    new.per_call_limit_credits := ledger.setting_credits(new.per_call_limit_credits, 'per_call_limit_credits');
  else
    new.threshold_credits := ledger.setting_credits(new.threshold_credits, 'threshold_credits');
  end if;
  return new;
end;
$$;
comment on function ledger.exact_credit_settings() is
  'Trigger of spend_limits and auto_topup_settings: their credit amounts keep three decimal places; more is refused (ledger.setting_credits).';

-- Named to fire before the tables' other BEFORE triggers (they fire in name order), so that they
-- see the value as it will be stored.
create trigger a_exact_credits before insert or update on public.spend_limits
  for each row execute function ledger.exact_credit_settings();
create trigger a_exact_credits before insert or update on public.auto_topup_settings
  for each row execute function ledger.exact_credit_settings();
