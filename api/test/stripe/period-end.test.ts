// Between a period's end and the hourly roll (at :05), the old allowance has expired and the new one
// is not granted yet. A reserve refused for credits in that gap, and an auto top-up about to charge
// the card in it, roll the period first: the call passes on the new allowance, and no pack is bought
// for credits the roll brings anyway.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, grant, NOW } from '../helpers.ts';
import { PACKS, startPaymentsApi } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);
const chargesFor = (orgId: string) =>
  api.fake.requestsTo('POST', '/v1/payment_intents').filter((r) => r.body.metadata?.organization_id === orgId);

/** A pro org whose period ends at 10:20 (NOW is 10:15), with its allowance (500) and 50 purchased credits. */
async function orgAtPeriodEnd() {
  const org = await createOrg(db.pool, { plan: 'pro' });
  await db.pool.query(
    `update public.organization_subscriptions set current_period_start = '2026-10-22T10:20:00Z', current_period_end = '2026-11-22T10:20:00Z',
       billing_anchor_at = '2026-10-22T10:20:00Z' where organization_id = $1`,
    [org.orgId],
  );
  await db.pool.query('select public.grant_period_allowance($1, $2)', [org.orgId, NOW]);
  await grant(db.pool, org.orgId, '50.000');
  return org;
}

const allowances = async (orgId: string) =>
  (
    await db.pool.query(
      "select external_ref, amount_credits from public.credit_grants where organization_id = $1 and source = 'plan_allowance' order by external_ref",
      [orgId],
    )
  ).rows;

describe('after a period ends, before the hourly roll', () => {
  it('a reserve that the expired allowance would refuse rolls the period and passes on the new one', async () => {
    const org = await orgAtPeriodEnd();
    api.now = minutes(6);
    const res = await api
      .action(
        'reserveCredits',
        { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: 'after-end', estimatedCredits: '60' },
        org.session,
      )
      .finally(() => {
        api.now = NOW;
      });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ amountCredits: '60.000', availableCredits: '490.000' });
    expect(await allowances(org.orgId)).toEqual([
      { external_ref: 'plan_allowance:2026-10-22T10:20:00Z', amount_credits: '500.000' },
      { external_ref: 'plan_allowance:2026-11-22T10:20:00Z', amount_credits: '500.000' },
    ]);
  });

  it('checkAIAccess rolls the period too, so it says what the reserve will do rather than "top up"', async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    await db.pool.query(
      `update public.organization_subscriptions set current_period_start = '2026-10-22T10:20:00Z', current_period_end = '2026-11-22T10:20:00Z',
         billing_anchor_at = '2026-10-22T10:20:00Z' where organization_id = $1`,
      [org.orgId],
    );
    await db.pool.query('select public.grant_period_allowance($1, $2)', [org.orgId, NOW]);
    api.now = minutes(6);
    const res = await api.action('checkAIAccess', { capability: 'question_suggestions', qualityLevel: 'fast' }, org.session).finally(() => {
      api.now = NOW;
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allowed: true, reason: null, availableCredits: '500.000' });
    expect(await allowances(org.orgId)).toEqual([
      { external_ref: 'plan_allowance:2026-10-22T10:20:00Z', amount_credits: '500.000' },
      { external_ref: 'plan_allowance:2026-11-22T10:20:00Z', amount_credits: '500.000' },
    ]);
  });

  it('a reserve refused for credits while no period has ended is refused as before, and rolls nothing', async () => {
    const org = await orgAtPeriodEnd();
    const res = await api.action(
      'reserveCredits',
      { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: 'too-much', estimatedCredits: '600' },
      org.session,
    );
    expect(res.status).toBe(402);
    expect(res.body.extensions.code).toBe('INSUFFICIENT_CREDITS');
    expect(await allowances(org.orgId)).toEqual([{ external_ref: 'plan_allowance:2026-10-22T10:20:00Z', amount_credits: '500.000' }]);
  });

  it('the auto top-up sweep rolls the period first and buys no pack the new allowance makes needless', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await orgAtPeriodEnd();
    await db.pool.query('update public.organizations set stripe_customer_id = $2 where id = $1', [
      org.orgId,
      `cus_${org.orgId.slice(0, 8)}`,
    ]);
    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id, updated_at)
       values ($1, true, 100, $2, 'pm_card_visa', $3)`,
      [org.orgId, PACKS.pack500, NOW],
    );
    // 10:25: the allowance expired at 10:20; 50 are left, below the threshold of 100.
    const sweep = await api.cron('auto_topup_sweep', minutes(10));
    expect(sweep.status).toBe(200);
    expect(chargesFor(org.orgId)).toEqual([]);
    expect((await allowances(org.orgId)).map((g) => g.external_ref)).toContain('plan_allowance:2026-11-22T10:20:00Z');
    const { rows } = await db.pool.query('select available_credits::text from public.get_credit_balance($1, $2)', [org.orgId, minutes(10)]);
    expect(rows[0].available_credits).toBe('550.000');
  });
});
