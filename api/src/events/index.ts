// POST /events/:trigger — Hasura's event triggers, behind the shared secret. `ledger_changed` fires
// on every insert into credit_ledger_entries; when credits went out, the org's auto top-up rules are
// checked at once (the cron sweep is the safety net).
import express, { type Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { AppError, invalidInputFromZod } from '../errors.ts';
import { runAutoTopUp } from '../payments/auto-topup.ts';
import type { Payments } from '../payments/index.ts';

export interface EventDeps {
  db: pg.Pool;
  payments: Payments;
  clock: () => Date;
  logger?: Pick<Console, 'error' | 'info'>;
}

/** The part of Hasura's event payload this handler reads. */
const ledgerEvent = z.object({
  event: z.object({
    op: z.string(),
    data: z.object({
      new: z
        .object({ organization_id: z.uuid(), amount_credits: z.union([z.string(), z.number()]) })
        .loose()
        .nullable(),
    }),
  }),
  trigger: z.object({ name: z.string() }).optional(),
});

export function eventsRouter(deps: EventDeps): Router {
  const router = express.Router();
  router.post('/events/:trigger', async (req, res) => {
    if (req.params.trigger !== 'ledger_changed') throw new AppError('NOT_FOUND', `no event trigger named ${req.params.trigger}`);
    const parsed = ledgerEvent.safeParse(req.body);
    if (!parsed.success) throw invalidInputFromZod(parsed.error, 'event payload');
    const entry = parsed.data.event.data.new;
    // Only money going out can take an org below its threshold.
    if (!entry || !String(entry.amount_credits).startsWith('-')) {
      res.json({ autoTopUp: null });
      return;
    }
    const status = await runAutoTopUp(deps, entry.organization_id, deps.clock());
    res.json({ autoTopUp: status });
  });
  return router;
}
