// The expiry and roll jobs do each organization in its own transaction (api/src/jobs/index.ts with
// migration 1795322401400): what is done for one organization is committed while the job waits on
// another, so a run over many organizations holds one organization's locks at a time.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, NOW } from '../helpers.ts';
import { startPaymentsApi } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);

/** Orgs, in id order, each with a promotion of 10 expiring at NOW + 1 minute. */
async function orgsWithExpiringPromotion(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const org = await createOrg(db.pool, { plan: 'pro' });
    await db.pool.query("select public.grant_credits($1, 10, 'promotion', $2, p_expires_at => $3, p_now => $4)", [
      org.orgId,
      `promo-${org.orgId}`,
      minutes(1),
      NOW,
    ]);
    ids.push(org.orgId);
  }
  return ids.sort();
}

const expiredGrants = async (orgIds: string[]) =>
  (
    await db.pool.query<{ organization_id: string }>(
      "select organization_id from public.credit_grants where organization_id = any($1) and source = 'promotion' and expired_at is not null",
      [orgIds],
    )
  ).rows.map((r) => r.organization_id);

describe('the expiry and roll jobs', () => {
  it('commit each organization on its own: the ones done are expired while the job waits on a busy one', async () => {
    const orgIds = await orgsWithExpiringPromotion(3);
    const busy = orgIds[2]!;
    // Another transaction holds the last organization's ledger locks (as a long call would).
    const holder = await db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select ledger.lock_organization($1)', [busy]);
      const run = api.cron('expire_grants', minutes(2));
      // The first two are committed while the job waits for the third.
      for (let i = 0; i < 100 && (await expiredGrants(orgIds)).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect((await expiredGrants(orgIds)).sort()).toEqual(orgIds.slice(0, 2));
      await holder.query('commit');
      const answer = await run;
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ more: false, failed: 0 });
      expect(answer.body.organizations).toBeGreaterThanOrEqual(3);
      expect((await expiredGrants(orgIds)).sort()).toEqual(orgIds);
    } finally {
      await holder.query('rollback').catch(() => undefined);
      holder.release();
    }
  });

  it('do an organization that stays due (its expiring credits held by an open reservation) once per call', async () => {
    const [orgId] = await orgsWithExpiringPromotion(1);
    const { rows } = await db.pool.query<{ id: string }>("select id from public.reserve_credits($1, 10, 'held', p_now => $2)", [
      orgId,
      NOW,
    ]);
    expect(rows).toHaveLength(1);
    await db.pool.query('update public.credit_reservations set expires_at = $2 where id = $1', [rows[0]!.id, minutes(60)]);
    const answer = await api.cron('expire_grants', minutes(2));
    expect(answer.status).toBe(200);
    expect(answer.body.more).toBe(false);
    // The held promotion waits for its reservation; the job went past it once and ended.
    expect(await expiredGrants([orgId!])).toEqual([]);
  });
});
