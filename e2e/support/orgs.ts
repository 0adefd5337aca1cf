// Fresh orgs for one journey, written straight into the stack's database the way the seeds write
// the demo orgs: the org, its people and their roles, a subscription for the current UTC month,
// and credits through public.grant_credits (never by writing balances). Each journey owns its org,
// so journeys run in any order and leave the demo orgs alone.
import { randomUUID } from 'node:crypto';
import { query } from './db.ts';

export type PlanCode = 'free' | 'pro' | 'team';
export type Role = 'owner' | 'admin' | 'member';

export interface CreateOrgOptions {
  /** Used in the org's name and the people's emails, so a failing journey's data is easy to find. */
  label: string;
  plan: PlanCode;
  /** Credits to grant; the allowance is the plan's whole monthly allowance unless given. */
  credits?: { allowance?: string; purchase?: string };
  /** @default ['owner'] */
  people?: Role[];
}

export interface Person {
  id: string;
  email: string;
  role: Role;
}

export interface TestOrg {
  id: string;
  name: string;
  plan: PlanCode;
  people: Person[];
  /** The first person with the role. */
  person(role: Role): Person;
}

export async function planId(code: PlanCode): Promise<string> {
  const rows = await query<{ id: string }>('select id from public.plans where code = $1 and is_active', [code]);
  if (!rows[0]) throw new Error(`no active plan ${code}`);
  return rows[0].id;
}

export async function createOrg(options: CreateOrgOptions): Promise<TestOrg> {
  const id = randomUUID();
  const short = id.slice(0, 8);
  const name = `E2E ${options.label} ${short}`;
  const slug = `e2e-${options.label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${short}`;
  const plan = await planId(options.plan);
  const paid = options.plan !== 'free';
  await query('insert into public.organizations (id, name, slug, stripe_customer_id) values ($1, $2, $3, $4)', [
    id,
    name,
    slug,
    `cus_e2e_${short}`,
  ]);
  const people: Person[] = [];
  for (const [index, role] of (options.people ?? ['owner']).entries()) {
    const person = { id: randomUUID(), email: `${role}${index}-${short}@e2e.test`, role };
    await query('insert into public.users (id, email, display_name) values ($1, $2, $3)', [
      person.id,
      person.email,
      `${role[0]!.toUpperCase()}${role.slice(1)} ${short}`,
    ]);
    await query('insert into public.organization_members (organization_id, user_id, role) values ($1, $2, $3)', [id, person.id, role]);
    people.push(person);
  }
  const [period] = await query<{ start: Date; end: Date }>(
    `insert into public.organization_subscriptions
       (organization_id, plan_id, status, current_period_start, current_period_end, stripe_subscription_id)
     values ($1, $2, 'active', date_trunc('month', now() at time zone 'UTC') at time zone 'UTC',
             (date_trunc('month', now() at time zone 'UTC') + interval '1 month') at time zone 'UTC', $3)
     returning current_period_start as start, current_period_end as "end"`,
    [id, plan, paid ? `sub_e2e_${short}` : null],
  );
  const allowance =
    options.credits?.allowance ??
    (await query<{ credits: string }>('select monthly_allowance_credits::text as credits from public.plans where id = $1', [plan]))[0]!
      .credits;
  if (!/^0+(\.0*)?$/.test(allowance)) {
    await query(
      `select public.grant_credits($1, $2::numeric, 'plan_allowance', public.allowance_ref($3), p_expires_at => $4, p_priority => 0,
         p_description => 'Monthly allowance')`,
      [id, allowance, period!.start, period!.end],
    );
  }
  if (options.credits?.purchase) {
    await query(`select public.grant_credits($1, $2::numeric, 'purchase', $3, p_description => 'Credits bought before the journey')`, [
      id,
      options.credits.purchase,
      `e2e_purchase:${short}`,
    ]);
  }
  return {
    id,
    name,
    plan: options.plan,
    people,
    person(role) {
      const found = people.find((p) => p.role === role);
      if (!found) throw new Error(`org ${name} has no ${role}`);
      return found;
    },
  };
}

/** Consumes credits as a finished AI call would (reserve, then settle), to bring a balance down before a journey. */
export async function spend(orgId: string, amount: string): Promise<void> {
  const key = `e2e_spend:${randomUUID()}`;
  await query(
    `select public.settle_reservation(r.id, $2::numeric, $1)
       from public.reserve_credits($1, $2::numeric, $3) r`,
    [orgId, amount, key],
  );
}

/**
 * The card the org saved earlier (buying a pack with auto top-up on saves it; no attempt starts
 * without one): the local provider's test card on a customer of the org, auto top-up still off.
 */
export async function saveCard(orgId: string): Promise<void> {
  await query('update public.organizations set stripe_customer_id = $2 where id = $1', [orgId, `cus_local_${orgId.slice(0, 8)}`]);
  await query(
    `insert into public.auto_topup_settings (organization_id, enabled, stripe_payment_method_id) values ($1, false, 'pm_local_card')
     on conflict (organization_id) do update set stripe_payment_method_id = excluded.stripe_payment_method_id`,
    [orgId],
  );
}
