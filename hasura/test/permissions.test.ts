// The permissions as served: what each membership role may change, within which bounds, and what
// each role may see, through the engine on hasura/metadata. A refused change leaves the row as it was.
import { useTestDatabase } from '@org-credits/db/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { bearer, jwt, startStack, userClaims } from './stack.ts';

const ACME = '0a000000-0000-4000-8000-000000000001';
const GLOBEX = '0a000000-0000-4000-8000-000000000002';
const ADA_OWNER = '0b000000-0000-4000-8000-000000000001';
const ALAN_ADMIN = '0b000000-0000-4000-8000-000000000002';
const MINA_MEMBER = '0b000000-0000-4000-8000-000000000003';

const db = await useTestDatabase();
const stack = await startStack(db);
const owner = bearer(jwt(userClaims(ADA_OWNER, ACME)));
const admin = bearer(jwt(userClaims(ALAN_ADMIN, ACME)));
const member = bearer(jwt(userClaims(MINA_MEMBER, ACME)));

const { rows: packs } = await db.pool.query<{ id: string; is_active: boolean }>(
  'select id::text, is_active from public.topup_packages order by sort_order',
);
const onSale = packs.find((p) => p.is_active)!.id;
const retired = (
  await db.pool.query<{ id: string }>(
    `insert into public.topup_packages (code, name, credits, price_minor, is_active) values ('retired_pack', 'Retired', 10, 100, false) returning id::text`,
  )
).rows[0]!.id;

async function settings() {
  const { rows } = await db.pool.query(
    `select enabled, threshold_credits::text, package_id::text, monthly_max_count, cooldown_minutes from public.auto_topup_settings where organization_id = $1`,
    [ACME],
  );
  return rows[0];
}

const update = (headers: Record<string, string>, set: string) =>
  stack.post(headers, `mutation { update_auto_topup_settings(where: {}, _set: { ${set} }) { affected_rows } }`);

beforeEach(async () => {
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, cooldown_minutes)
     values ($1, false, 100, $2, 60)
     on conflict (organization_id) do update set enabled = false, threshold_credits = 100, package_id = $2, cooldown_minutes = 60, monthly_max_count = null`,
    [ACME, onSale],
  );
});

describe('auto top-up settings', () => {
  it('an owner and an admin change them', async () => {
    expect((await update(owner, 'threshold_credits: "250.5", enabled: true')).data).toEqual({
      update_auto_topup_settings: { affected_rows: 1 },
    });
    expect(await settings()).toMatchObject({ enabled: true, threshold_credits: '250.500' });
    expect((await update(admin, 'cooldown_minutes: 30')).data).toEqual({ update_auto_topup_settings: { affected_rows: 1 } });
    expect(await settings()).toMatchObject({ cooldown_minutes: 30 });
  });

  it('a plain member changes nothing (no row matches)', async () => {
    const before = await settings();
    expect((await update(member, 'enabled: true')).data).toEqual({ update_auto_topup_settings: { affected_rows: 0 } });
    expect(await settings()).toEqual(before);
  });

  it('out of bounds values are refused and the row is unchanged', async () => {
    const before = await settings();
    // The permission's bounds; where the table's own check also forbids the value, Postgres refuses it first.
    const tries: [string, string][] = [
      ['threshold_credits: "1000000001"', 'permission-error'],
      ['cooldown_minutes: 50000', 'permission-error'],
      ['monthly_max_count: 101', 'permission-error'],
      ['monthly_max_minor: 10000001', 'permission-error'],
      ['threshold_credits: "-1"', 'constraint-violation'],
      ['monthly_max_count: 0', 'constraint-violation'],
    ];
    for (const [set, code] of tries) {
      const answer = await update(owner, set);
      expect(answer.data ?? null, set).toBeNull();
      expect(answer.errors?.[0]?.extensions?.code, set).toBe(code);
    }
    expect(await settings()).toEqual(before);
  });

  it('auto top-up is turned on only with a pack that is on sale', async () => {
    const before = await settings();
    const answer = await update(owner, `enabled: true, package_id: "${retired}"`);
    expect(answer.errors?.[0]?.extensions?.code).toBe('permission-error');
    expect(await settings()).toEqual(before);
    // Off with a pack since taken off sale: turning it on again is refused too.
    await db.pool.query('update public.auto_topup_settings set package_id = $2 where organization_id = $1', [ACME, retired]);
    const again = await update(owner, 'enabled: true');
    expect(again.errors?.[0]?.extensions?.code).toBe('permission-error');
    expect(await settings()).toMatchObject({ enabled: false, package_id: retired });
  });

  it('auto top-up can be turned off, and changed while off, whatever its pack', async () => {
    // On with a pack that went off sale (as rows were before migration 1795322402200 turned them off).
    await db.pool.query('update public.auto_topup_settings set enabled = true, package_id = $2 where organization_id = $1', [
      ACME,
      retired,
    ]);
    // As docs/graphql-api.md turns it off. Before: permission-error, and no way to turn it off.
    const off = await stack.post(
      owner,
      `mutation { update_auto_topup_settings_by_pk(pk_columns: { organization_id: "${ACME}" }, _set: { enabled: false }) { enabled } }`,
    );
    expect(off).toMatchObject({ data: { update_auto_topup_settings_by_pk: { enabled: false } } });
    // While off, the other settings change, the pack as it is.
    expect((await update(admin, 'threshold_credits: "150"')).data).toEqual({ update_auto_topup_settings: { affected_rows: 1 } });
    expect(await settings()).toMatchObject({ enabled: false, threshold_credits: '150.000', package_id: retired });
  });

  it('the card and failure state are not a user’s to write', async () => {
    const answer = await update(owner, 'consecutive_failures: 0');
    expect(answer.errors?.[0]?.extensions?.code).toBe('validation-failed');
  });
});

describe('spend limits', () => {
  it('a member may not create them; an admin sets them for their own organization', async () => {
    const refused = await stack.post(
      member,
      `mutation { insert_spend_limits_one(object: { daily_limit_credits: "1" }) { organization_id } }`,
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('permission-error');
    expect((await db.pool.query('select 1 from public.spend_limits')).rowCount).toBe(0);
    const set = await stack.post(
      admin,
      `mutation { insert_spend_limits_one(object: { daily_limit_credits: "50" }, on_conflict: { constraint: spend_limits_pkey, update_columns: [daily_limit_credits] }) { organization_id daily_limit_credits } }`,
    );
    expect(set.data).toEqual({ insert_spend_limits_one: { organization_id: ACME, daily_limit_credits: '50.000' } });
    const { rows } = await db.pool.query('select organization_id::text, daily_limit_credits::text from public.spend_limits');
    expect(rows).toEqual([{ organization_id: ACME, daily_limit_credits: '50.000' }]);
  });

  it('a limit above the bound is refused, and the limit stays', async () => {
    const answer = await stack.post(
      admin,
      `mutation { update_spend_limits(where: {}, _set: { daily_limit_credits: "1000000001" }) { affected_rows } }`,
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('permission-error');
    const { rows } = await db.pool.query('select daily_limit_credits::text from public.spend_limits');
    expect(rows).toEqual([{ daily_limit_credits: '50.000' }]);
  });

  it('a limit or threshold finer than a thousandth is refused, not rounded, and nothing changes', async () => {
    // Before: 1.0005 was stored as 1.001, and 0.0004 became 0 (refused only by the zero check).
    for (const value of ['1.0005', '0.0004']) {
      const answer = await stack.post(
        admin,
        `mutation { update_spend_limits(where: {}, _set: { per_call_limit_credits: "${value}" }) { affected_rows } }`,
      );
      expect(answer.errors?.[0]?.extensions?.code).toBe('constraint-violation');
      expect(answer.errors?.[0]?.message).toMatch(/per_call_limit_credits .* thousandth/);
    }
    const { rows } = await db.pool.query('select per_call_limit_credits::text from public.spend_limits');
    expect(rows).toEqual([{ per_call_limit_credits: null }]);
    const threshold = await update(owner, 'threshold_credits: "99.9995"');
    expect(threshold.errors?.[0]?.extensions?.code).toBe('constraint-violation');
    expect(await settings()).toMatchObject({ threshold_credits: '100.000' });
    // A whole number or fewer places still reads back with three.
    const ok = await stack.post(
      admin,
      `mutation { update_spend_limits(where: {}, _set: { per_call_limit_credits: "2.5" }) { returning { per_call_limit_credits } } }`,
    );
    expect(ok.data).toEqual({ update_spend_limits: { returning: [{ per_call_limit_credits: '2.500' }] } });
  });

  it('zero is not a limit (null means none)', async () => {
    const answer = await stack.post(
      admin,
      `mutation { update_spend_limits(where: {}, _set: { monthly_limit_credits: "0" }) { affected_rows } }`,
    );
    expect(answer.errors?.[0]?.extensions?.code).toBe('constraint-violation');
  });
});

describe('spend limits: the daily limit is no more than the monthly one', () => {
  // As the web form refuses it ("it could never be reached"), for every client of the GraphQL API.
  // Before: every save refused below was accepted.
  type Limits = { daily: string | null; monthly: string | null };
  const limits = async (): Promise<Limits | undefined> =>
    (
      await db.pool.query<Limits>(
        'select daily_limit_credits::text as daily, monthly_limit_credits::text as monthly from public.spend_limits where organization_id = $1',
        [ACME],
      )
    ).rows[0];
  const startWith = async (row: { daily: number | null; monthly: number | null } | null) => {
    await db.pool.query('delete from public.spend_limits where organization_id = $1', [ACME]);
    if (row)
      await db.pool.query(
        'insert into public.spend_limits (organization_id, daily_limit_credits, monthly_limit_credits) values ($1, $2, $3)',
        [ACME, row.daily, row.monthly],
      );
  };
  const insert = (object: string) =>
    stack.post(admin, `mutation { insert_spend_limits_one(object: { ${object} }) { daily_limit_credits monthly_limit_credits } }`);
  const set = (changes: string) => stack.post(admin, `mutation { update_spend_limits(where: {}, _set: { ${changes} }) { affected_rows } }`);
  const expectRefused = (answer: Awaited<ReturnType<typeof stack.post>>) => {
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors?.[0]?.extensions?.code).toBe('permission-error');
    expect(answer.errors?.[0]?.message).toBe('Check constraint violation. insert/update check constraint failed');
  };

  it('an insert with the daily limit above the monthly one is refused and creates nothing', async () => {
    await startWith(null);
    expectRefused(await insert('daily_limit_credits: "500", monthly_limit_credits: "100"'));
    expectRefused(await insert('daily_limit_credits: "100.001", monthly_limit_credits: "100"'));
    expect(await limits()).toBeUndefined();
  });

  it('an update of the daily limit alone is checked against the monthly limit already there', async () => {
    await startWith({ daily: null, monthly: 100 });
    expectRefused(await set('daily_limit_credits: "500"'));
    expect(await limits()).toEqual({ daily: null, monthly: '100.000' });
  });

  it('an update of the monthly limit alone is checked against the daily limit already there', async () => {
    await startWith({ daily: 500, monthly: null });
    expectRefused(await set('monthly_limit_credits: "100"'));
    expect(await limits()).toEqual({ daily: '500.000', monthly: null });
  });

  it('an update of both is checked on the values it sets', async () => {
    await startWith({ daily: 50, monthly: 100 });
    expectRefused(await set('daily_limit_credits: "500", monthly_limit_credits: "400"'));
    expect(await limits()).toEqual({ daily: '50.000', monthly: '100.000' });
    // Raising both together, the daily limit past the old monthly one, is fine.
    expect((await set('daily_limit_credits: "300", monthly_limit_credits: "400"')).data).toEqual({
      update_spend_limits: { affected_rows: 1 },
    });
    expect(await limits()).toEqual({ daily: '300.000', monthly: '400.000' });
  });

  it('an upsert onto the existing row is held to the same rule', async () => {
    await startWith({ daily: null, monthly: 100 });
    expectRefused(
      await stack.post(
        admin,
        `mutation { insert_spend_limits_one(object: { daily_limit_credits: "500" }, on_conflict: { constraint: spend_limits_pkey, update_columns: [daily_limit_credits] }) { organization_id } }`,
      ),
    );
    expect(await limits()).toEqual({ daily: null, monthly: '100.000' });
  });

  it('equal limits are accepted', async () => {
    await startWith(null);
    expect((await insert('daily_limit_credits: "100", monthly_limit_credits: "100"')).data).toEqual({
      insert_spend_limits_one: { daily_limit_credits: '100.000', monthly_limit_credits: '100.000' },
    });
    expect((await set('daily_limit_credits: "250.5", monthly_limit_credits: "250.5"')).data).toEqual({
      update_spend_limits: { affected_rows: 1 },
    });
    expect(await limits()).toEqual({ daily: '250.500', monthly: '250.500' });
  });

  it('either limit may be null (none) whatever the other is', async () => {
    await startWith(null);
    expect((await insert('daily_limit_credits: "500"')).data).toEqual({
      insert_spend_limits_one: { daily_limit_credits: '500.000', monthly_limit_credits: null },
    });
    await startWith(null);
    expect((await insert('monthly_limit_credits: "100"')).data).toEqual({
      insert_spend_limits_one: { daily_limit_credits: null, monthly_limit_credits: '100.000' },
    });
    // Clearing the monthly limit under a daily one above it, then the daily one, one at a time.
    await startWith({ daily: 50, monthly: 100 });
    expect((await set('monthly_limit_credits: null')).data).toEqual({ update_spend_limits: { affected_rows: 1 } });
    expect((await set('daily_limit_credits: "5000"')).data).toEqual({ update_spend_limits: { affected_rows: 1 } });
    expect(await limits()).toEqual({ daily: '5000.000', monthly: null });
    expect((await set('daily_limit_credits: null, monthly_limit_credits: "10"')).data).toEqual({
      update_spend_limits: { affected_rows: 1 },
    });
    expect(await limits()).toEqual({ daily: null, monthly: '10.000' });
  });
});

const { rows: made } = await db.pool.query<{ id: string; user_id: string | null }>(
  `insert into public.notifications (organization_id, user_id, kind, title) values
     ($1, null, 'low_balance', 'For everyone'), ($1, $2, 'refund', 'For Mina'), ($1, $3, 'refund', 'For Ada')
   returning id::text, user_id::text`,
  [ACME, MINA_MEMBER, ADA_OWNER],
);

describe('notifications', () => {
  it('a member sees the organization’s and their own, not another person’s', async () => {
    const answer = await stack.post(member, '{ notifications(order_by: { title: asc }) { title } }');
    expect(answer.data).toEqual({ notifications: [{ title: 'For Mina' }, { title: 'For everyone' }] });
  });

  it('a member marks theirs read, and may change nothing else', async () => {
    const mine = made.find((n) => n.user_id === MINA_MEMBER)!.id;
    const read = await stack.post(
      member,
      `mutation { update_notifications_by_pk(pk_columns: { id: "${mine}" }, _set: { read_at: "2026-11-22T10:00:00Z" }) { read_at } }`,
    );
    expect(read.data).toEqual({ update_notifications_by_pk: { read_at: '2026-11-22T10:00:00+00:00' } });
    const title = await stack.post(member, `mutation { update_notifications(where: {}, _set: { title: "x" }) { affected_rows } }`);
    expect(title.errors?.[0]?.extensions?.code).toBe('validation-failed');
    const ada = made.find((n) => n.user_id === ADA_OWNER)!.id;
    const other = await stack.post(
      member,
      `mutation { update_notifications_by_pk(pk_columns: { id: "${ada}" }, _set: { read_at: "2026-11-22T10:00:00Z" }) { id } }`,
    );
    expect(other.data).toEqual({ update_notifications_by_pk: null });
    const { rows } = await db.pool.query('select read_at from public.notifications where id = $1', [ada]);
    expect(rows[0].read_at).toBeNull();
  });

  it("the organization's notifications (one read state for everyone) are marked read by owners and admins, not by members", async () => {
    const everyone = made.find((n) => n.user_id === null)!.id;
    const mark = `mutation { update_notifications_by_pk(pk_columns: { id: "${everyone}" }, _set: { read_at: "2026-11-22T10:00:00Z" }) { id } }`;
    expect((await stack.post(member, mark)).data).toEqual({ update_notifications_by_pk: null });
    expect((await db.pool.query('select read_at from public.notifications where id = $1', [everyone])).rows[0].read_at).toBeNull();
    expect((await stack.post(owner, mark)).data).toEqual({ update_notifications_by_pk: { id: everyone } });
    expect((await db.pool.query('select read_at from public.notifications where id = $1', [everyone])).rows[0].read_at).not.toBeNull();
  });
});

describe('what each role sees', () => {
  it('anonymous sees the plans on offer; a member also sees older versions', async () => {
    await db.pool.query(
      `insert into public.plans (code, version, name, monthly_allowance_credits, price_minor, rank, is_active) values ('pro', 99, 'Pro (old)', 1, 1, 2, false)`,
    );
    const anonymous = await stack.post({}, '{ plans(where: { code: { _eq: "pro" } }) { version } }');
    const signedIn = await stack.post(member, '{ plans(where: { code: { _eq: "pro" } }, order_by: { version: asc }) { version } }');
    expect(((anonymous.data?.plans ?? []) as { version: number }[]).map((p) => p.version)).not.toContain(99);
    expect(((signedIn.data?.plans ?? []) as { version: number }[]).map((p) => p.version)).toContain(99);
  });

  it('nobody but the admin sees Stripe ids', async () => {
    const answer = await stack.post(owner, '{ organizations { stripe_customer_id } }');
    expect(answer.errors?.[0]?.message).toMatch(/stripe_customer_id/);
    expect(answer.errors?.[0]?.extensions?.code).toBe('validation-failed');
  });

  it('an owner of one organization sees none of another’s balance, even asking for it by id', async () => {
    const answer = await stack.post(
      owner,
      `{ organization_credit_balances(where: { organization_id: { _eq: "${GLOBEX}" } }) { available_credits } }`,
    );
    expect(answer.data).toEqual({ organization_credit_balances: [] });
  });
});
