-- Credits for the demo organizations, through the ledger functions (so the balance rows and the
-- ledger agree): each org's allowance for the current period, one paid top-up with its purchase
-- record, and for Acme a promotional grant. External references are fixed, so running the file
-- again grants nothing twice.

-- Plan allowances for the current period (expire at its end).
select public.grant_credits(s.organization_id, p.monthly_allowance_credits, 'plan_allowance',
  public.allowance_ref(s.current_period_start),
  p_expires_at => s.current_period_end, p_priority => 0, p_effective_at => least(s.current_period_start, now()),
  p_description => p.name || ' allowance')
from public.organization_subscriptions s
join public.plans p on p.id = s.plan_id
where s.organization_id in ('0a000000-0000-4000-8000-000000000001', '0a000000-0000-4000-8000-000000000002')
  and p.monthly_allowance_credits > 0;

-- A paid top-up each: Acme bought the 1,400 pack, Globex the 500 pack.
insert into public.topup_purchases
  (id, organization_id, package_id, user_id, credits, price_minor, currency, status, stripe_checkout_session_id, stripe_payment_intent_id)
values
  ('0e000000-0000-4000-8000-000000000001', '0a000000-0000-4000-8000-000000000001', '0c000000-0000-4000-8000-000000000002',
   '0b000000-0000-4000-8000-000000000001', 1400.000, 2500, 'GBP', 'paid', 'cs_demo_acme_1', 'pi_demo_acme_1'),
  ('0e000000-0000-4000-8000-000000000002', '0a000000-0000-4000-8000-000000000002', '0c000000-0000-4000-8000-000000000001',
   '0b000000-0000-4000-8000-000000000004', 500.000, 1000, 'GBP', 'paid', 'cs_demo_globex_1', 'pi_demo_globex_1')
on conflict do nothing;

select public.grant_credits(p.organization_id, p.credits, 'purchase', p.stripe_checkout_session_id,
  p_description => pk.name || ' top-up', p_metadata => jsonb_build_object('topup_purchase_id', p.id))
from public.topup_purchases p
join public.topup_packages pk on pk.id = p.package_id
where p.id in ('0e000000-0000-4000-8000-000000000001', '0e000000-0000-4000-8000-000000000002');

update public.topup_purchases p
set grant_id = g.id
from public.credit_grants g
where g.organization_id = p.organization_id and g.external_ref = p.stripe_checkout_session_id
  and p.id in ('0e000000-0000-4000-8000-000000000001', '0e000000-0000-4000-8000-000000000002')
  and p.grant_id is null;

-- A welcome promotion for Acme, expiring in 30 days.
select public.grant_credits('0a000000-0000-4000-8000-000000000001', 50.000, 'promotion', 'promotion:welcome',
  p_expires_at => now() + interval '30 days', p_description => 'Welcome bonus');
