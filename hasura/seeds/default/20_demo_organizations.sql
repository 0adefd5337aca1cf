-- Two demo organizations on different plans, their people (one person belongs to both), and
-- their subscriptions for the current calendar month. Fixed ids; re-runnable.

insert into public.organizations (id, name, slug, stripe_customer_id) values
  ('0a000000-0000-4000-8000-000000000001', 'Acme Labs', 'acme-labs', 'cus_demo_acme'),
  ('0a000000-0000-4000-8000-000000000002', 'Globex', 'globex', 'cus_demo_globex')
on conflict do nothing;

insert into public.users (id, email, display_name) values
  ('0b000000-0000-4000-8000-000000000001', 'owner@acme.test', 'Ada Owner'),
  ('0b000000-0000-4000-8000-000000000002', 'admin@acme.test', 'Alan Admin'),
  ('0b000000-0000-4000-8000-000000000003', 'member@acme.test', 'Mina Member'),
  ('0b000000-0000-4000-8000-000000000004', 'owner@globex.test', 'Grace Owner'),
  ('0b000000-0000-4000-8000-000000000005', 'member@globex.test', 'Gus Member'),
  ('0b000000-0000-4000-8000-000000000006', 'consultant@both.test', 'Casey Consultant')
on conflict do nothing;

insert into public.organization_members (organization_id, user_id, role) values
  ('0a000000-0000-4000-8000-000000000001', '0b000000-0000-4000-8000-000000000001', 'owner'),
  ('0a000000-0000-4000-8000-000000000001', '0b000000-0000-4000-8000-000000000002', 'admin'),
  ('0a000000-0000-4000-8000-000000000001', '0b000000-0000-4000-8000-000000000003', 'member'),
  ('0a000000-0000-4000-8000-000000000001', '0b000000-0000-4000-8000-000000000006', 'member'),
  ('0a000000-0000-4000-8000-000000000002', '0b000000-0000-4000-8000-000000000004', 'owner'),
  ('0a000000-0000-4000-8000-000000000002', '0b000000-0000-4000-8000-000000000005', 'member'),
  ('0a000000-0000-4000-8000-000000000002', '0b000000-0000-4000-8000-000000000006', 'admin')
on conflict do nothing;

-- Acme Labs on Pro (current version), Globex on Free; the period is the current UTC calendar month.
insert into public.organization_subscriptions
  (organization_id, plan_id, status, current_period_start, current_period_end, stripe_subscription_id)
select o.id, o.plan_id, 'active', date_trunc('month', now() at time zone 'UTC') at time zone 'UTC',
  (date_trunc('month', now() at time zone 'UTC') + interval '1 month') at time zone 'UTC', o.stripe_subscription_id
from (values
  ('0a000000-0000-4000-8000-000000000001'::uuid, 'a0000000-0000-4000-8000-000000000002'::uuid, 'sub_demo_acme'),
  ('0a000000-0000-4000-8000-000000000002'::uuid, 'a0000000-0000-4000-8000-000000000001'::uuid, null)
) as o (id, plan_id, stripe_subscription_id)
on conflict do nothing;
