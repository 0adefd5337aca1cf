-- Why: every table of the credit ledger and its catalogue, as fixed by docs/data-model.md, so that
-- the Hasura metadata, the actions service and the dashboard can be built against real names.
-- The money logic (functions, views, triggers that enforce the ledger) comes in the next migration.
-- Amounts of credits are numeric(20,3); prices per 1,000 tokens numeric(20,6); money is bigint
-- minor units with a currency. No floating point anywhere.
--
-- Every table is here in its final form, including what the ledger's tuning added (measured with
-- bench/src/ledger.ts): credit_balances.next_expiry_at, grant indexes that do not depend on
-- remaining_credits, and fill factors on the rows every call updates. The comments below say why.

-- ---------------------------------------------------------------------------------------------
-- Tenants and people
-- ---------------------------------------------------------------------------------------------

create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) > 0),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]*$'),
  stripe_customer_id text unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.organizations is 'A tenant: every credit, reservation and ledger entry belongs to exactly one organization.';

create table public.users (
  id uuid primary key default gen_random_uuid(),
  email text not null unique check (email = lower(email) and email like '%_@_%'),
  display_name text,
  created_at timestamptz not null default now()
);
comment on table public.users is 'A person who can belong to organizations. Emails are stored lower-case.';

create table public.organization_members (
  organization_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references public.users (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (organization_id, user_id)
);
create index organization_members_user_id_idx on public.organization_members (user_id);
comment on table public.organization_members is 'A person''s membership of an organization, with its role (owner, admin or member).';

-- ---------------------------------------------------------------------------------------------
-- Plans and subscriptions
-- ---------------------------------------------------------------------------------------------

create table public.plans (
  id uuid primary key default gen_random_uuid(),
  code text not null check (code ~ '^[a-z][a-z0-9_]*$'),
  version int not null default 1 check (version > 0),
  name text not null,
  description text,
  monthly_allowance_credits numeric(20, 3) not null check (monthly_allowance_credits >= 0),
  price_minor bigint not null default 0 check (price_minor >= 0),
  currency text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  rank int not null,
  stripe_price_id text,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  unique (code, version)
);
-- One version of each plan is offered to new organizations; orgs on older versions keep theirs.
create unique index plans_one_active_version_idx on public.plans (code) where is_active;
comment on table public.plans is 'One version of a plan. A price or allowance change is a new version; organizations on an old version keep it. is_active marks the version offered to new organizations.';

create table public.organization_subscriptions (
  organization_id uuid primary key references public.organizations (id) on delete cascade,
  plan_id uuid not null references public.plans (id),
  status text not null default 'active' check (status in ('active', 'past_due', 'canceled', 'incomplete')),
  current_period_start timestamptz not null,
  current_period_end timestamptz not null,
  pending_plan_id uuid references public.plans (id),
  pending_change_at timestamptz,
  cancel_at_period_end boolean not null default false,
  stripe_subscription_id text unique,
  stripe_schedule_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (current_period_end > current_period_start),
  check ((pending_plan_id is null) = (pending_change_at is null))
);
create index organization_subscriptions_plan_id_idx on public.organization_subscriptions (plan_id);
create index organization_subscriptions_pending_change_at_idx on public.organization_subscriptions (pending_change_at)
  where pending_plan_id is not null;
comment on table public.organization_subscriptions is 'An organization''s plan (one row per organization): status, current billing period, a pending plan change with the time it takes effect, and the Stripe ids.';

-- ---------------------------------------------------------------------------------------------
-- Catalogue: quality levels, capabilities, models, and what each plan includes
-- ---------------------------------------------------------------------------------------------

create table public.quality_levels (
  code text primary key check (code ~ '^[a-z][a-z0-9_]*$'),
  name text not null,
  description text,
  rank int not null unique
);
comment on table public.quality_levels is 'A quality level a caller asks for (fast, enhanced, premium); each plan maps it to a model per capability.';

create table public.ai_capabilities (
  code text primary key check (code ~ '^[a-z][a-z0-9_]*$'),
  name text not null,
  description text,
  pricing_mode text not null check (pricing_mode in ('per_call', 'per_token')),
  base_cost_credits numeric(20, 3) not null default 0 check (base_cost_credits >= 0),
  typical_input_tokens int not null default 0 check (typical_input_tokens >= 0),
  typical_output_tokens int not null default 0 check (typical_output_tokens >= 0),
  max_input_tokens int not null default 0 check (max_input_tokens >= typical_input_tokens),
  max_output_tokens int not null default 0 check (max_output_tokens >= typical_output_tokens),
  is_active boolean not null default true
);
comment on table public.ai_capabilities is 'Something the product does with AI. per_call: each call costs base_cost_credits. per_token: base_cost_credits plus the model''s token prices.';

create table public.llm_models (
  id text primary key check (id ~ '^[a-z0-9-]+/[A-Za-z0-9._:-]+$'),
  provider text not null,
  model_name text not null,
  display_name text not null,
  input_credits_per_1k_tokens numeric(20, 6) not null check (input_credits_per_1k_tokens >= 0),
  output_credits_per_1k_tokens numeric(20, 6) not null check (output_credits_per_1k_tokens >= 0),
  is_active boolean not null default true,
  unique (provider, model_name)
);
comment on table public.llm_models is 'A model we can call, with its price in credits per 1,000 input and per 1,000 output tokens.';

create table public.plan_capabilities (
  plan_id uuid not null references public.plans (id) on delete cascade,
  capability_code text not null references public.ai_capabilities (code),
  rate_limit_per_hour int check (rate_limit_per_hour > 0),
  rate_limit_per_day int check (rate_limit_per_day > 0),
  primary key (plan_id, capability_code)
);
create index plan_capabilities_capability_code_idx on public.plan_capabilities (capability_code);
comment on table public.plan_capabilities is 'A capability a plan includes, with its rate limits per UTC hour and per UTC day (null = no limit).';

create table public.plan_capability_quality_levels (
  plan_id uuid not null,
  capability_code text not null,
  quality_level_code text not null references public.quality_levels (code),
  model_id text not null references public.llm_models (id),
  primary key (plan_id, capability_code, quality_level_code),
  foreign key (plan_id, capability_code) references public.plan_capabilities (plan_id, capability_code) on delete cascade
);
create index plan_capability_quality_levels_model_id_idx on public.plan_capability_quality_levels (model_id);
comment on table public.plan_capability_quality_levels is 'A quality level a plan offers for a capability, and the model that serves it.';

-- ---------------------------------------------------------------------------------------------
-- The ledger
-- ---------------------------------------------------------------------------------------------

-- The ledger's internal helpers live in schema `ledger` (the functions come in the next
-- migration); the rules of its hot tables' rows are here, because their CHECK constraints call them.
create schema ledger;
comment on schema ledger is 'Internal helpers of the credit ledger functions; not part of the API.';

-- Why row-rule functions: Postgres does not keep a table's CHECK constraints ready between
-- statements. Every INSERT or UPDATE parses each one from its stored node text
-- (pg_constraint.conbin), plans it and builds its expression again. Written inline, the checks of
-- reservations, grants, ledger entries and balances ran to 1.7-6.5 kB of node text each (every
-- constant and column reference is a long record, and an IN list is an array of them), about 22 kB
-- parsed per reserve -> settle pair, one of the largest single costs of the pair in a CPU profile.
-- As a call of an IMMUTABLE plpgsql function with the row's columns, a check's stored expression is
-- 0.5-1.5 kB, and plpgsql keeps the compiled rules for the session. A violation is still SQLSTATE
-- 23514 naming the constraint, and NULL still passes. Measured with pgbench on 100 organizations at
-- 8 connections, three runs of each, alternated: 1,373-1,514 pairs/s inline, 1,587-1,714 as
-- function calls (+12 %); see docs/ledger.md. The functions leave search_path alone (a SET clause
-- would save and restore it on every row): they use only built-in operators and functions, which
-- resolve in pg_catalog, searched first.
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
  p_source text, p_amount numeric, p_remaining numeric, p_external_ref text, p_expires_at timestamptz, p_effective_at timestamptz,
  p_expired_at timestamptz
) returns boolean
  language plpgsql immutable as $$
begin
  return p_source in ('plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration')
    and p_amount > 0 and p_remaining between 0 and p_amount and length(p_external_ref) > 0
    and (p_expires_at is null or p_expires_at > p_effective_at)
    and (p_expired_at is null or p_remaining = 0);
end;
$$;
comment on function ledger.grant_row_ok(text, numeric, numeric, text, timestamptz, timestamptz, timestamptz) is
  'The rules of one credit_grants row (its CHECK constraint credit_grants_state_check). A grant marked expired holds nothing.';

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

create table public.credit_grants (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id),
  source text not null,
  amount_credits numeric(20, 3) not null,
  remaining_credits numeric(20, 3) not null,
  priority int not null default 100,
  effective_at timestamptz not null default now(),
  expires_at timestamptz,
  external_ref text not null,
  description text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  expired_at timestamptz,
  unique (organization_id, external_ref),
  constraint credit_grants_state_check check (ledger.grant_row_ok(source, amount_credits, remaining_credits, external_ref,
    expires_at, effective_at, expired_at))
) with (fillfactor = 80);
-- Why these grant indexes and the fill factors: on a busy organization the same few rows are
-- updated on every call: its credit_balances row, the grant being drawn from, its usage row for the
-- day. Postgres can update such a row in place on its page (a HOT update, no new index entries) only
-- when no indexed column changes and the page has room. Partial indexes on `remaining_credits > 0`
-- (the first version) made every settle change an indexed column of the grant, so each one added
-- entries to five indexes, and lookups had to step over the growing number of dead entries while
-- concurrent transactions kept them from being cleaned up. So grant indexes do not depend on
-- remaining_credits (the sweep's index depends on expired_at, which changes once per grant), and
-- the hot tables (credit_balances, credit_grants, organization_usage_daily,
-- organization_rate_usage) leave room on each page.
--
-- Burn order: plan allowance first, then priority (lower first), then earliest expiry (never last),
-- then oldest, then id. Only grants not marked expired: those hold nothing (the CHECK says so), and
-- past periods' allowances, which sort first, would otherwise be stepped over by every settle of an
-- organization, one more each month. Used-up grants stay until their expiry passes. The queries that
-- walk the burn order say `expired_at is null` so that the planner can use this index.
create index credit_grants_burn_order_idx on public.credit_grants
  (organization_id, (source <> 'plan_allowance'), priority, expires_at nulls last, created_at, id) where expired_at is null;
-- An organization's grants by expiry: lazy expiry and the next expiry of the balance.
create index credit_grants_org_expires_idx on public.credit_grants (organization_id, expires_at) where expires_at is not null;
-- The sweep: grants that will expire and have not been marked expired yet.
create index credit_grants_due_idx on public.credit_grants (expires_at) where expired_at is null and expires_at is not null;
create index credit_grants_org_created_idx on public.credit_grants (organization_id, created_at desc);
comment on table public.credit_grants is 'A bucket of credits for one organization: its source, amount, what remains, priority and expiry. external_ref is unique per organization, so granting twice with one reference grants once.';
comment on column public.credit_grants.expired_at is
  'When the grant was found past its expiry: the expiry zeroed what remained (with an expire entry), or it was already used up.';

create table public.credit_reservations (
  id uuid primary key default gen_random_uuid(),
  -- Foreign keys checked at commit (deferred): see "Constraints and foreign keys on hot tables" in
  -- docs/ledger.md.
  organization_id uuid not null references public.organizations (id) deferrable initially deferred,
  user_id uuid references public.users (id) on delete set null deferrable initially deferred,
  capability_code text references public.ai_capabilities (code) deferrable initially deferred,
  quality_level_code text references public.quality_levels (code) deferrable initially deferred,
  model_id text references public.llm_models (id) deferrable initially deferred,
  idempotency_key text not null,
  amount_credits numeric(20, 3) not null,
  status text not null default 'open',
  settled_amount_credits numeric(20, 3),
  capped boolean not null default false,
  pricing jsonb,
  usage jsonb,
  release_reason text,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  resolved_at timestamptz,
  unique (organization_id, idempotency_key),
  -- The amount, the key, and the states (see ledger.reservation_row_ok above).
  constraint credit_reservations_state_check check (ledger.reservation_row_ok(amount_credits, idempotency_key, expires_at,
    created_at, status, resolved_at, settled_amount_credits, capped))
);
create index credit_reservations_org_created_idx on public.credit_reservations (organization_id, created_at desc);
-- Only open holds, which are few (in-flight calls): the expiry job reads them all, an org's page its
-- own. A settled row has no entry, so resolving a reservation adds entries to three indexes, not five.
-- Whoever resolves reservations by their ids (settle, release, and the sweep's UPDATE of the ids it
-- locked) tests `status is not distinct from 'open'`, not `status = 'open'`: the same for a column
-- that is never null, but it does not match this index's predicate, so the planner cannot use the
-- index to find those rows. It did when its statistics were taken while few holds were open, and a
-- connection keeps such a plan: each settle then read every open hold (20 ms a settle with 29,000
-- open). The ledger test "finds the reservation it resolves by its id" sets that scene.
create index credit_reservations_open_idx on public.credit_reservations (organization_id, expires_at) where status = 'open';
comment on table public.credit_reservations is 'Credits held for one in-flight AI call. It resolves exactly once: settled (with the actual amount), released, or expired by the job. The idempotency key is unique per organization.';

create table public.credit_ledger_entries (
  id bigint generated always as identity primary key,
  organization_id uuid not null references public.organizations (id) deferrable initially deferred,
  entry_type text not null,
  amount_credits numeric(20, 3) not null,
  balance_after_credits numeric(20, 3) not null,
  grant_id uuid references public.credit_grants (id),
  reservation_id uuid references public.credit_reservations (id),
  external_ref text,
  description text,
  created_at timestamptz not null default now(),
  -- Grants and adjustments add credits; consume, expire and clawback entries take them.
  constraint credit_ledger_entries_sign_check check (ledger.ledger_entry_row_ok(entry_type, amount_credits))
);
create index credit_ledger_entries_org_created_idx on public.credit_ledger_entries (organization_id, created_at desc, id desc);
create index credit_ledger_entries_grant_id_idx on public.credit_ledger_entries (grant_id) where grant_id is not null;
create index credit_ledger_entries_reservation_id_idx on public.credit_ledger_entries (reservation_id) where reservation_id is not null;
create unique index credit_ledger_entries_clawback_ref_idx on public.credit_ledger_entries (organization_id, external_ref)
  where entry_type = 'clawback';
comment on table public.credit_ledger_entries is 'One append-only movement of credits (signed: + in, - out) with the organization''s balance after it. The sum of an organization''s entries equals its balance. Updates and deletes are refused.';

create table public.credit_balances (
  organization_id uuid primary key references public.organizations (id),
  allowance_remaining_credits numeric(20, 3) not null default 0,
  purchased_remaining_credits numeric(20, 3) not null default 0,
  bonus_remaining_credits numeric(20, 3) not null default 0,
  debt_credits numeric(20, 3) not null default 0,
  released_credits numeric(20, 3) not null default 0,
  spend_day date,
  spend_day_credits numeric(20, 3) not null default 0,
  spend_month date,
  spend_month_credits numeric(20, 3) not null default 0,
  updated_at timestamptz not null default now(),
  next_expiry_at timestamptz,
  -- One check per hot table, not one per column: Postgres prepares every check constraint of a
  -- table again for each statement that writes it (see "Constraints and foreign keys on hot
  -- tables" in docs/ledger.md).
  constraint credit_balances_amounts_check check (ledger.balance_row_ok(allowance_remaining_credits,
    purchased_remaining_credits, bonus_remaining_credits, debt_credits, released_credits, spend_day_credits,
    spend_month_credits))
) with (fillfactor = 50);
comment on table public.credit_balances is 'The maintained balance of one organization, written only by the ledger functions. Balance = allowance + purchased + bonus remaining - debt; reserved = credit_holds.held_credits - released_credits; available = balance - reserved (organization_credit_balances shows them). spend_day/spend_month hold the credits consumed in the current UTC day and month, for spend limits.';
comment on column public.credit_balances.released_credits is
  'The credits of every hold of the organization resolved so far (settled, released or expired): it only grows. Reserved = credit_holds.held_credits - released_credits.';

-- The reserve side of an organization's balance, kept apart from credit_balances so that a reserve
-- and a settle of one busy organization do not queue on one row: a reserve adds to held_credits
-- here, a settle (or release, or the expiry of a hold) adds to credit_balances.released_credits.
-- Both only grow, and reserved = held_credits - released_credits. See "Locks" in docs/ledger.md.
create table public.credit_holds (
  organization_id uuid primary key references public.organizations (id),
  held_credits numeric(20, 3) not null default 0,
  updated_at timestamptz not null default now(),
  constraint credit_holds_held_check check (held_credits >= 0)
) with (fillfactor = 50);
comment on table public.credit_holds is 'The credits of every hold (reservation) the organization has made: it only grows. Reserved = held_credits - credit_balances.released_credits. Written only by the ledger functions.';
-- next_expiry_at lets a call learn from the row it locks, without a query, whether any grant is due
-- for lazy expiry. The trigger credit_grants_note_expiry (1795322400001_ledger_functions, next to
-- ledger.note_grant_expiry) moves it earlier for a new grant; ledger.expire_due_grants recomputes it.
comment on column public.credit_balances.next_expiry_at is
  'The earliest expires_at among the organization''s grants that hold credits, or earlier (it is corrected when a call finds nothing due); null when none expires. A call whose p_now has reached it expires due grants first.';

create table public.organization_usage_daily (
  organization_id uuid not null references public.organizations (id),
  day date not null,
  capability_code text references public.ai_capabilities (code),
  quality_level_code text references public.quality_levels (code),
  calls int not null default 0,
  credits_consumed numeric(20, 3) not null default 0,
  constraint organization_usage_daily_counts_check check (calls >= 0 and credits_consumed >= 0),
  constraint organization_usage_daily_key unique nulls not distinct (organization_id, day, capability_code, quality_level_code)
) with (fillfactor = 80);
comment on table public.organization_usage_daily is 'Settled usage per organization, UTC day, capability and quality level (null when the call named none): calls and credits consumed. Maintained by settle_reservation.';

create table public.organization_rate_usage (
  organization_id uuid not null references public.organizations (id),
  capability_code text not null references public.ai_capabilities (code),
  hour_start timestamptz not null,
  hour_calls int not null default 0 check (hour_calls >= 0),
  day date not null,
  day_calls int not null default 0 check (day_calls >= 0),
  primary key (organization_id, capability_code)
) with (fillfactor = 50);
comment on table public.organization_rate_usage is 'Reservations made in the current UTC hour and day per organization and capability: the counters behind the plan''s rate limits (fixed windows). Maintained by reserve_credits when the plan limits the capability.';

-- ---------------------------------------------------------------------------------------------
-- Top-ups, auto top-up, spend limits
-- ---------------------------------------------------------------------------------------------

create table public.topup_packages (
  id uuid primary key default gen_random_uuid(),
  code text not null unique check (code ~ '^[a-z0-9][a-z0-9_-]*$'),
  name text not null,
  credits numeric(20, 3) not null check (credits > 0),
  price_minor bigint not null check (price_minor > 0),
  currency text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  stripe_price_id text,
  is_active boolean not null default true,
  sort_order int not null default 0
);
comment on table public.topup_packages is 'A pack of credits for sale: credits, price in minor units and currency, the Stripe price, and its place in the list.';

create table public.topup_purchases (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id),
  package_id uuid not null references public.topup_packages (id),
  user_id uuid references public.users (id) on delete set null,
  credits numeric(20, 3) not null check (credits > 0),
  price_minor bigint not null check (price_minor > 0),
  currency text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'pending'
    check (status in ('pending', 'paid', 'failed', 'canceled', 'refunded', 'partially_refunded', 'disputed')),
  stripe_checkout_session_id text unique,
  stripe_payment_intent_id text,
  stripe_charge_id text,
  amount_refunded_minor bigint not null default 0 check (amount_refunded_minor >= 0 and amount_refunded_minor <= price_minor),
  grant_id uuid references public.credit_grants (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index topup_purchases_org_created_idx on public.topup_purchases (organization_id, created_at desc);
create index topup_purchases_payment_intent_idx on public.topup_purchases (stripe_payment_intent_id) where stripe_payment_intent_id is not null;
create index topup_purchases_charge_idx on public.topup_purchases (stripe_charge_id) where stripe_charge_id is not null;
comment on table public.topup_purchases is 'One checkout of a top-up pack: what was bought, at what price, its payment status and refunds, and the grant it produced once paid.';

create table public.auto_topup_settings (
  organization_id uuid primary key references public.organizations (id) on delete cascade,
  enabled boolean not null default false,
  threshold_credits numeric(20, 3) not null default 0 check (threshold_credits >= 0),
  package_id uuid references public.topup_packages (id),
  monthly_max_count int check (monthly_max_count > 0),
  monthly_max_minor bigint check (monthly_max_minor > 0),
  cooldown_minutes int not null default 60 check (cooldown_minutes >= 0),
  consecutive_failures int not null default 0 check (consecutive_failures >= 0),
  disabled_reason text,
  stripe_payment_method_id text,
  updated_at timestamptz not null default now(),
  check (not enabled or package_id is not null)
);
comment on table public.auto_topup_settings is 'An organization''s auto top-up rules: when available falls below threshold_credits, buy package_id off-session, within the monthly count and money caps and the cooldown.';

create table public.auto_topup_attempts (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id),
  package_id uuid not null references public.topup_packages (id),
  status text not null default 'in_flight' check (status in ('in_flight', 'succeeded', 'failed', 'requires_action')),
  idempotency_key text not null unique,
  stripe_payment_intent_id text unique,
  failure_code text,
  failure_message text,
  credits numeric(20, 3) not null check (credits > 0),
  price_minor bigint not null check (price_minor > 0),
  currency text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  grant_id uuid references public.credit_grants (id),
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  check ((status = 'in_flight') = (resolved_at is null))
);
create unique index auto_topup_attempts_one_in_flight_idx on public.auto_topup_attempts (organization_id) where status = 'in_flight';
create index auto_topup_attempts_org_created_idx on public.auto_topup_attempts (organization_id, created_at desc);
comment on table public.auto_topup_attempts is 'One off-session charge attempt of auto top-up. At most one attempt per organization is in flight.';

create table public.spend_limits (
  organization_id uuid primary key references public.organizations (id) on delete cascade,
  daily_limit_credits numeric(20, 3) check (daily_limit_credits > 0),
  monthly_limit_credits numeric(20, 3) check (monthly_limit_credits > 0),
  per_call_limit_credits numeric(20, 3) check (per_call_limit_credits > 0),
  updated_at timestamptz not null default now()
);
comment on table public.spend_limits is 'An organization''s caps on credits per UTC day, per UTC month and per call (null = none). Checked by reserve_credits against consumed plus reserved credits.';

-- ---------------------------------------------------------------------------------------------
-- Notifications and Stripe events
-- ---------------------------------------------------------------------------------------------

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid references public.users (id) on delete cascade,
  kind text not null check (kind in (
    'usage_threshold', 'low_balance', 'auto_topup_succeeded', 'auto_topup_failed', 'auto_topup_action_required',
    'auto_topup_disabled', 'payment_failed', 'plan_changed', 'refund'
  )),
  title text not null,
  body text not null default '',
  action_url text,
  dedupe_key text,
  read_at timestamptz,
  created_at timestamptz not null default now(),
  unique (organization_id, dedupe_key)
);
create index notifications_org_created_idx on public.notifications (organization_id, created_at desc);
create index notifications_unread_idx on public.notifications (organization_id, user_id) where read_at is null;
comment on table public.notifications is 'A message to an organization''s people (user_id null = everyone). dedupe_key is unique per organization, so a job can notify once per event.';

create table public.stripe_events (
  id text primary key,
  type text not null,
  created_at_stripe timestamptz,
  processed_at timestamptz not null default now(),
  payload jsonb not null default '{}'::jsonb
);
comment on table public.stripe_events is 'A Stripe event we have processed, keyed by Stripe''s event id, so a redelivered event is processed once.';

-- ---------------------------------------------------------------------------------------------
-- Every organization has its balance row from the start: it is the organization's lock.
-- ---------------------------------------------------------------------------------------------

create function public.create_credit_balance_row() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  insert into public.credit_balances (organization_id) values (new.id) on conflict do nothing;
  insert into public.credit_holds (organization_id) values (new.id) on conflict do nothing;
  return new;
end;
$$;
comment on function public.create_credit_balance_row() is 'Trigger: gives every new organization its credit_balances and credit_holds rows (its maintained balance).';

create trigger organizations_create_credit_balance after insert on public.organizations
  for each row execute function public.create_credit_balance_row();

-- updated_at on the tables that carry it.
create function public.set_updated_at() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  if new.updated_at is not distinct from old.updated_at then
    new.updated_at := now();
  end if;
  return new;
end;
$$;
comment on function public.set_updated_at() is 'Trigger: sets updated_at to the transaction time on every update, unless the statement set it itself.';

create trigger organizations_set_updated_at before update on public.organizations
  for each row execute function public.set_updated_at();
create trigger organization_subscriptions_set_updated_at before update on public.organization_subscriptions
  for each row execute function public.set_updated_at();
create trigger topup_purchases_set_updated_at before update on public.topup_purchases
  for each row execute function public.set_updated_at();
create trigger auto_topup_settings_set_updated_at before update on public.auto_topup_settings
  for each row execute function public.set_updated_at();
create trigger spend_limits_set_updated_at before update on public.spend_limits
  for each row execute function public.set_updated_at();
-- credit_balances, credit_grants and credit_reservations are changed only by the ledger functions,
-- which set updated_at to their p_now themselves (no trigger on the hot path).

-- The ledger is append-only: a correction is a new entry, never an edit.
create function public.refuse_ledger_change() returns trigger
  language plpgsql volatile set search_path = '' as $$
begin
  raise exception using
    errcode = 'OC011',
    message = format('credit_ledger_entries is append-only: %s is not allowed', tg_op),
    hint = 'LEDGER_APPEND_ONLY';
end;
$$;
comment on function public.refuse_ledger_change() is 'Trigger: refuses UPDATE, DELETE and TRUNCATE of credit_ledger_entries; corrections are new entries.';

create trigger credit_ledger_entries_append_only before update or delete on public.credit_ledger_entries
  for each row execute function public.refuse_ledger_change();
create trigger credit_ledger_entries_no_truncate before truncate on public.credit_ledger_entries
  for each statement execute function public.refuse_ledger_change();
