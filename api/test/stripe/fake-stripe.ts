// A fake Stripe API for tests: the outer edge only. A real HTTP server on 127.0.0.1 (port 0) that
// answers the form-encoded calls our code makes through the official SDK — customers, checkout
// sessions, payment intents, subscriptions, subscription schedules, invoice previews — in the shapes
// of the pinned API version, honours Idempotency-Key like Stripe (same key, same answer, no second
// object), records every request, and can be told to decline, require authentication, refuse a
// detached card, or fail.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What an off-session charge does: succeed; decline (402 card_error); want authentication;
 * `detached_card`: 400 invalid_request_error, as Stripe answers for a card removed from the customer;
 * `key_in_use`: 409, another request with the same idempotency key in progress; `lock_timeout`: 429;
 * `fail`: 500; `invalid_request`: 400 invalid_request_error with the code, param and message of
 * `FakeStripe.invalidRequest` (an amount or currency Stripe does not take, a missing customer...).
 */
export type ChargeMode =
  | 'succeed'
  | 'decline'
  | 'authenticate'
  | 'detached_card'
  | 'key_in_use'
  | 'lock_timeout'
  | 'fail'
  | 'invalid_request';

/** The error of a 400 invalid_request_error, as Stripe sends it (code and param are left out when absent). */
export interface InvalidRequest {
  code?: string;
  param?: string;
  message: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: decoded form bodies are checked field by field
  body: any;
  idempotencyKey: string | null;
}

// biome-ignore lint/suspicious/noExplicitAny: Stripe objects are plain JSON here
type Obj = Record<string, any>;

/** A change of a subscription in the fake: its event's type and a copy of the subscription after it. */
export interface SubscriptionEvent {
  type: 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted';
  subscriptionId: string;
  object: Obj;
}

export interface FakeStripe {
  url: string;
  requests: RecordedRequest[];
  /** What the next off-session charges (payment intents) and upgrade invoices do. @default 'succeed' */
  chargeMode: ChargeMode;
  /** Requests to matching paths answer 500 (Stripe down). @default null */
  failing: RegExp | null;
  /**
   * Stripe's clock: the time a subscription update without a `proration_date` prorates at (Stripe's
   * own, when the update reaches it). @default the machine's clock
   */
  now: () => Date;
  /** The 400 off-session charges answer in chargeMode `invalid_request`. @default amount_too_small */
  invalidRequest: InvalidRequest;
  objects: Map<string, Obj>;
  /**
   * The prices an invoice preview prorates, by id: the seeded catalogue's (hasura/seeds/default/
   * 10_catalogue.sql) to begin with; a test may add others.
   */
  prices: Map<string, { unitAmount: number; currency: string }>;
  /**
   * Every change to a subscription, oldest first, with a copy of the subscription as it was right
   * after it: the object of the `customer.subscription.*` event Stripe sends for it. The API calls
   * (update, schedule, release, cancel) and `changeSubscription` record them.
   */
  subscriptionEvents: SubscriptionEvent[];
  /**
   * Changes a stored subscription as Stripe itself does (a renewal that fails, the dashboard, the
   * portal): what a retrieve answers from then on. Records the change's event (`deleted` when the
   * subscription ends) and answers its copy of the subscription.
   */
  changeSubscription(subscriptionId: string, changes: Obj): Obj;
  /**
   * Called with each request once its answer is made (the answer is as the objects are then): the
   * answer is sent when the promise returned settles; undefined sends it at once. A slow network, or
   * a read that reaches the caller after what it read has changed. @default null
   */
  beforeAnswer: ((request: RecordedRequest) => Promise<void> | undefined) | null;
  /** A subscription as if made by an earlier checkout. */
  createSubscription(input: {
    customer: string;
    priceId: string;
    periodStart: Date;
    periodEnd: Date;
    metadata?: Record<string, string>;
  }): Obj;
  /** The first invoice of a subscription, paid by a card (a payment intent and its charge); answers the invoice id. */
  payFirstInvoice(subscriptionId: string, amountMinor: number): string;
  requestsTo(method: string, path: string | RegExp): RecordedRequest[];
  /**
   * The requests that may change something in Stripe, oldest first: every POST and DELETE except
   * `POST /v1/invoices/create_preview`, which Stripe takes as a POST but which only reads.
   */
  writes(): RecordedRequest[];
  close(): Promise<void>;
}

/** Decodes Stripe's form encoding (`a[b][0][c]=1`) into nested objects and arrays. */
export function decodeForm(text: string): Obj {
  const root: Obj = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const parts = rawKey.split(/\[|\]\[|\]/).filter((p) => p !== '');
    let node: Obj = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      if (last) {
        node[part] = value;
        return;
      }
      const nextIsIndex = /^\d+$/.test(parts[i + 1]!);
      node[part] ??= nextIsIndex ? [] : {};
      node = node[part];
    });
  }
  return root;
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

export async function startFakeStripe(): Promise<FakeStripe> {
  const objects = new Map<string, Obj>();
  const byIdempotencyKey = new Map<string, { status: number; body: Obj }>();
  const requests: RecordedRequest[] = [];
  const subscriptionEvents: SubscriptionEvent[] = [];
  let counter = 0;
  const id = (prefix: string) => `${prefix}_fake_${(++counter).toString().padStart(6, '0')}`;
  /** Records a subscription's event with a copy of it as it is now; answers the copy. */
  const recordSubscription = (type: SubscriptionEvent['type'], subscription: Obj): Obj => {
    const object = structuredClone(subscription);
    subscriptionEvents.push({ type, subscriptionId: subscription.id, object });
    return object;
  };

  const fake: FakeStripe = {
    url: '',
    requests,
    chargeMode: 'succeed',
    failing: null,
    now: () => new Date(),
    invalidRequest: { code: 'amount_too_small', param: 'amount', message: 'Amount must be at least £0.30 gbp' },
    objects,
    prices: new Map([
      ['price_pro_v1_monthly', { unitAmount: 1500, currency: 'gbp' }],
      ['price_pro_v2_monthly', { unitAmount: 1900, currency: 'gbp' }],
      ['price_team_v1_monthly', { unitAmount: 4900, currency: 'gbp' }],
    ]),
    subscriptionEvents,
    beforeAnswer: null,
    changeSubscription(subscriptionId, changes) {
      const subscription = objects.get(subscriptionId);
      if (!subscription) throw new Error(`the fake has no subscription ${subscriptionId}`);
      const wasLive = !['canceled', 'incomplete_expired'].includes(subscription.status);
      Object.assign(subscription, changes);
      const ended = wasLive && ['canceled', 'incomplete_expired'].includes(subscription.status);
      return recordSubscription(ended ? 'customer.subscription.deleted' : 'customer.subscription.updated', subscription);
    },
    createSubscription({ customer, priceId, periodStart, periodEnd, metadata = {} }) {
      const subscriptionId = id('sub');
      const subscription: Obj = {
        id: subscriptionId,
        object: 'subscription',
        customer,
        status: 'active',
        cancel_at_period_end: false,
        metadata,
        schedule: null,
        pending_update: null,
        latest_invoice: null,
        items: {
          object: 'list',
          data: [
            {
              id: id('si'),
              object: 'subscription_item',
              subscription: subscriptionId,
              current_period_start: seconds(periodStart),
              current_period_end: seconds(periodEnd),
              price: { id: priceId, object: 'price' },
              quantity: 1,
            },
          ],
        },
      };
      objects.set(subscriptionId, subscription);
      recordSubscription('customer.subscription.created', subscription);
      return subscription;
    },
    payFirstInvoice(subscriptionId, amountMinor) {
      const charge: Obj = { id: id('ch'), object: 'charge', amount: amountMinor, amount_refunded: 0, refunded: false };
      const intent: Obj = { id: id('pi'), object: 'payment_intent', amount: amountMinor, status: 'succeeded', latest_charge: charge.id };
      charge.payment_intent = intent.id;
      const invoice: Obj = {
        id: id('in'),
        object: 'invoice',
        billing_reason: 'subscription_create',
        status: 'paid',
        parent: { type: 'subscription_details', subscription_details: { subscription: subscriptionId, metadata: {} } },
      };
      const payment: Obj = {
        id: id('inpay'),
        object: 'invoice_payment',
        invoice: invoice.id,
        status: 'paid',
        amount_paid: amountMinor,
        payment: { type: 'payment_intent', payment_intent: intent.id },
      };
      for (const object of [charge, intent, invoice, payment]) objects.set(object.id, object);
      const subscription = objects.get(subscriptionId);
      if (subscription) subscription.latest_invoice = invoice.id;
      return invoice.id;
    },
    requestsTo(method, path) {
      return requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
    },
    writes() {
      return requests.filter((r) => (r.method === 'POST' || r.method === 'DELETE') && r.path !== '/v1/invoices/create_preview');
    },
    close: async () => undefined,
  };

  function cardError(code: string, message: string, intent: Obj, declineCode?: string) {
    return {
      status: 402,
      body: { error: { type: 'card_error', code, message, ...(declineCode ? { decline_code: declineCode } : {}), payment_intent: intent } },
    };
  }

  function createPaymentIntent(body: Obj): { status: number; body: Obj } {
    const intent: Obj = {
      id: id('pi'),
      object: 'payment_intent',
      amount: Number(body.amount),
      currency: body.currency,
      customer: body.customer ?? null,
      payment_method: body.payment_method ?? null,
      metadata: body.metadata ?? {},
      off_session: body.off_session === 'true',
      status: 'succeeded',
      last_payment_error: null,
      latest_charge: null,
    };
    if (fake.chargeMode === 'fail') return { status: 500, body: { error: { type: 'api_error', message: 'Stripe is having a bad day' } } };
    if (fake.chargeMode === 'detached_card') {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            param: 'payment_method',
            message:
              'The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a ' +
              'connected account without Customer attachment, or was detached from a Customer. It may not be used again.',
          },
        },
      };
    }
    if (fake.chargeMode === 'invalid_request') {
      const { code, param, message } = fake.invalidRequest;
      return {
        status: 400,
        body: { error: { type: 'invalid_request_error', ...(code ? { code } : {}), ...(param ? { param } : {}), message } },
      };
    }
    if (fake.chargeMode === 'key_in_use') {
      return {
        status: 409,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'idempotency_key_in_use',
            message: 'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice).',
          },
        },
      };
    }
    if (fake.chargeMode === 'lock_timeout') {
      return {
        status: 429,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'lock_timeout',
            message: 'This object cannot be accessed right now because another API request or Stripe process is currently accessing it.',
          },
        },
      };
    }
    if (fake.chargeMode === 'decline') {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'insufficient_funds',
        message: 'Your card has insufficient funds.',
      };
      objects.set(intent.id, intent);
      return cardError('card_declined', 'Your card has insufficient funds.', intent, 'insufficient_funds');
    }
    if (fake.chargeMode === 'authenticate') {
      intent.status = 'requires_action';
      intent.last_payment_error = { type: 'card_error', code: 'authentication_required', message: 'Your card requires authentication.' };
      objects.set(intent.id, intent);
      return cardError('authentication_required', 'Your card requires authentication.', intent);
    }
    intent.latest_charge = id('ch');
    objects.set(intent.id, intent);
    return { status: 200, body: intent };
  }

  const invalid = (message: string, param?: string) => ({
    status: 400,
    body: { error: { type: 'invalid_request_error', message, ...(param ? { param } : {}) } },
  });

  /** A proration date Stripe takes for the item: whole seconds within its current period. */
  const withinPeriod = (item: Obj, date: number) =>
    Number.isInteger(date) && date >= item.current_period_start && date < item.current_period_end;

  /**
   * The prorated lines of moving `item` to `newPriceId` at `date` (Unix seconds within its period):
   * the unused time on the old price (a credit) and the time left on the new one, each `unit amount ×
   * seconds left / seconds of the period` rounded to the nearest minor unit (halves away from zero),
   * in integers, and their sum. The rule of the invoice preview and of the update's invoice alike.
   */
  function prorate(
    item: Obj,
    newPriceId: string,
    date: number,
  ):
    | { lines: { amount: number; price: string; description: string }[]; total: number; currency: string }
    | { error: string; param?: string } {
    const oldPrice = fake.prices.get(item.price.id);
    const newPrice = fake.prices.get(newPriceId);
    if (!oldPrice) return { error: `No such price: '${item.price.id}'` };
    if (!newPrice) return { error: `No such price: '${newPriceId}'`, param: 'price' };
    if (oldPrice.currency !== newPrice.currency) return { error: 'the prices are in different currencies' };
    const left = BigInt(item.current_period_end - date);
    const period = BigInt(item.current_period_end - item.current_period_start);
    const share = (amount: number) => (2n * BigInt(amount) * left + period) / (2n * period);
    const lines = [
      { amount: -Number(share(oldPrice.unitAmount)), price: item.price.id, description: 'Unused time' },
      { amount: Number(share(newPrice.unitAmount)), price: newPriceId, description: 'Remaining time' },
    ];
    return { lines, total: lines.reduce((sum, line) => sum + line.amount, 0), currency: newPrice.currency };
  }

  /**
   * POST /v1/invoices/create_preview of a price change of a subscription (`subscription`, and
   * `subscription_details` with `items[0]` = { id of its item, new price }, `proration_behavior`
   * always_invoice and a `proration_date`): the invoice Stripe would make at once, and nothing else
   * (no object is stored or changed, no event). The rule this fake applies, deterministically
   * (`prorate`): prorated by the second, as Stripe does, from the proration date to the item's period
   * end, out of the whole period; two lines as on Stripe's invoice, the unused time on the old price
   * (a credit) and the time left on the new one, each `unit amount × seconds left / seconds of the
   * period` rounded to the nearest minor unit (halves away from zero), in integers; `amount_due`
   * their sum, or 0 when it is negative (Stripe keeps a credit on the customer's balance). No tax,
   * discount or customer balance. A subscription update's invoice has the same amount for the same
   * proration date.
   */
  function previewInvoice(body: Obj): { status: number; body: Obj } {
    const subscription = objects.get(body.subscription);
    if (subscription?.object !== 'subscription')
      return {
        status: 404,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            message: `No such subscription: '${body.subscription}'`,
            param: 'subscription',
          },
        },
      };
    const details = body.subscription_details ?? {};
    const item = subscription.items.data[0];
    const change = details.items?.[0];
    if (!change || change.id !== item.id || !change.price)
      return invalid('subscription_details[items][0] must name the subscription item and its new price', 'subscription_details[items]');
    if (details.proration_behavior !== 'always_invoice')
      return invalid('the fake previews only proration_behavior=always_invoice', 'subscription_details[proration_behavior]');
    const prorationDate = Number(details.proration_date);
    if (!withinPeriod(item, prorationDate))
      return invalid('proration_date must be within the current subscription period', 'subscription_details[proration_date]');
    const proration = prorate(item, change.price, prorationDate);
    if ('error' in proration) return invalid(proration.error, proration.param && `subscription_details[items][0][${proration.param}]`);
    const { lines, total, currency } = proration;
    return {
      status: 200,
      body: {
        id: `upcoming_in_${(++counter).toString().padStart(6, '0')}`,
        object: 'invoice',
        status: 'draft',
        billing_reason: 'subscription_update',
        customer: subscription.customer,
        currency,
        subtotal: total,
        total,
        amount_due: Math.max(0, total),
        parent: {
          type: 'subscription_details',
          subscription_details: { subscription: subscription.id, metadata: {}, subscription_proration_date: prorationDate },
        },
        lines: {
          object: 'list',
          data: lines.map((line) => ({
            object: 'line_item',
            amount: line.amount,
            currency,
            description: line.description,
            period: { start: prorationDate, end: item.current_period_end },
            parent: { type: 'subscription_item_details', subscription_item_details: { subscription_item: item.id, proration: true } },
            pricing: { type: 'price_details', price_details: { price: line.price } },
          })),
        },
      },
    };
  }

  function route(method: string, path: string, body: Obj): { status: number; body: Obj } {
    const notFound = { status: 404, body: { error: { type: 'invalid_request_error', message: `No such object: ${path}` } } };
    const read = path.match(/^\/v1\/(payment_intents|subscriptions|subscription_schedules|customers)\/([^/]+)$/);
    const subscriptionPath = path.match(/^\/v1\/subscriptions\/([^/]+)$/);
    const schedulePath = path.match(/^\/v1\/subscription_schedules\/([^/]+)(\/release)?$/);
    if (method === 'POST' && path === '/v1/customers') {
      const customer = { id: id('cus'), object: 'customer', name: body.name ?? null, metadata: body.metadata ?? {} };
      objects.set(customer.id, customer);
      return { status: 200, body: customer };
    }
    if (method === 'POST' && path === '/v1/checkout/sessions') {
      const sessionId = id('cs_test');
      const session = {
        id: sessionId,
        object: 'checkout.session',
        mode: body.mode,
        status: 'open',
        payment_status: 'unpaid',
        customer: body.customer ?? null,
        client_reference_id: body.client_reference_id ?? null,
        metadata: body.metadata ?? {},
        payment_intent: null,
        subscription: null,
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        line_items_requested: body.line_items,
        payment_intent_data: body.payment_intent_data ?? null,
        url: `https://checkout.stripe.test/c/pay/${sessionId}`,
      };
      objects.set(sessionId, session);
      return { status: 200, body: session };
    }
    if (method === 'POST' && path === '/v1/payment_intents') return createPaymentIntent(body);
    if (method === 'POST' && path === '/v1/invoices/create_preview') return previewInvoice(body);
    if (method === 'GET' && read) {
      const object = objects.get(read[2]!);
      if (!object) return notFound;
      const expand: string[] = Array.isArray(body.expand) ? body.expand : body.expand ? [body.expand] : [];
      if (expand.includes('latest_charge') && typeof object.latest_charge === 'string')
        return { status: 200, body: { ...object, latest_charge: objects.get(object.latest_charge) ?? object.latest_charge } };
      return { status: 200, body: object };
    }
    if (method === 'DELETE' && subscriptionPath) {
      const subscription = objects.get(subscriptionPath[1]!);
      if (!subscription) return notFound;
      if (subscription.status === 'canceled')
        return { status: 400, body: { error: { type: 'invalid_request_error', message: 'This subscription is already canceled.' } } };
      subscription.status = 'canceled';
      recordSubscription('customer.subscription.deleted', subscription);
      return { status: 200, body: subscription };
    }
    if (method === 'GET' && path === '/v1/invoice_payments') {
      const data = [...objects.values()].filter(
        (o) => o.object === 'invoice_payment' && o.invoice === body.invoice && (!body.status || o.status === body.status),
      );
      return { status: 200, body: { object: 'list', data, has_more: false, url: '/v1/invoice_payments' } };
    }
    if (method === 'POST' && path === '/v1/refunds') {
      const intent = objects.get(body.payment_intent);
      const charge = intent && objects.get(intent.latest_charge);
      if (!intent || !charge) return notFound;
      if (charge.refunded)
        return {
          status: 400,
          body: { error: { type: 'invalid_request_error', code: 'charge_already_refunded', message: 'Charge has already been refunded.' } },
        };
      const refund: Obj = {
        id: id('re'),
        object: 'refund',
        amount: charge.amount - charge.amount_refunded,
        payment_intent: intent.id,
        charge: charge.id,
        status: 'succeeded',
        reason: body.reason ?? null,
        metadata: body.metadata ?? {},
      };
      charge.amount_refunded = charge.amount;
      charge.refunded = true;
      objects.set(refund.id, refund);
      return { status: 200, body: refund };
    }
    if (method === 'POST' && subscriptionPath) {
      const subscription = objects.get(subscriptionPath[1]!);
      if (!subscription) return notFound;
      // What it is now, for its customer.subscription.updated event if the request changes it.
      const before = JSON.stringify(subscription);
      const recordIfChanged = () =>
        JSON.stringify(subscription) !== before && recordSubscription('customer.subscription.updated', subscription);
      const item = subscription.items.data[0];
      // A price change is prorated at the given proration_date (refused outside the current period,
      // as Stripe does, before anything changes), else at Stripe's clock.
      const given = body.proration_date !== undefined;
      const prorationDate = given ? Number(body.proration_date) : seconds(fake.now());
      if (given && !withinPeriod(item, prorationDate))
        return invalid('proration_date must be within the current subscription period', 'proration_date');
      if (body.cancel_at_period_end !== undefined) subscription.cancel_at_period_end = body.cancel_at_period_end === 'true';
      const newPrice = body.items?.[0]?.price;
      if (newPrice) {
        // The invoice's amount by the preview's rule, when the fake knows the prices and the time is
        // within the period.
        const proration = withinPeriod(item, prorationDate) ? prorate(item, newPrice, prorationDate) : null;
        const amounts =
          proration && !('error' in proration)
            ? { currency: proration.currency, total: proration.total, amount_due: Math.max(0, proration.total) }
            : {};
        const invoice: Obj = {
          id: id('in'),
          object: 'invoice',
          billing_reason: 'subscription_update',
          status: fake.chargeMode === 'succeed' ? 'paid' : 'open',
          ...amounts,
          parent: {
            type: 'subscription_details',
            subscription_details: { subscription: subscription.id, metadata: {}, subscription_proration_date: prorationDate },
          },
          lines: { object: 'list', data: [{ pricing: { type: 'price_details', price_details: { price: newPrice } } }] },
        };
        objects.set(invoice.id, invoice);
        if (fake.chargeMode === 'succeed' || body.payment_behavior !== 'pending_if_incomplete') {
          subscription.items.data[0].price = { id: newPrice, object: 'price' };
          subscription.pending_update = null;
        } else {
          subscription.pending_update = { subscription_items: [{ price: { id: newPrice } }], expires_at: seconds(new Date()) + 82_800 };
        }
        subscription.latest_invoice = invoice.id;
        const expanded = (body.expand ?? []).includes('latest_invoice');
        recordIfChanged();
        return { status: 200, body: { ...subscription, latest_invoice: expanded ? invoice : invoice.id } };
      }
      recordIfChanged();
      return { status: 200, body: subscription };
    }
    if (method === 'POST' && path === '/v1/subscription_schedules') {
      const subscription = objects.get(body.from_subscription);
      if (!subscription) return notFound;
      const schedule: Obj = {
        id: id('sub_sched'),
        object: 'subscription_schedule',
        subscription: subscription.id,
        status: 'active',
        phases: [],
      };
      subscription.schedule = schedule.id;
      recordSubscription('customer.subscription.updated', subscription);
      objects.set(schedule.id, schedule);
      return { status: 200, body: schedule };
    }
    if (method === 'POST' && schedulePath) {
      const schedule = objects.get(schedulePath[1]!);
      if (!schedule) return notFound;
      if (schedulePath[2]) {
        if (schedule.status !== 'active')
          return { status: 400, body: { error: { type: 'invalid_request_error', message: 'schedule is not active' } } };
        schedule.status = 'released';
        const subscription = objects.get(schedule.subscription);
        if (subscription) subscription.schedule = null;
        if (subscription) recordSubscription('customer.subscription.updated', subscription);
      } else {
        schedule.phases = body.phases ?? schedule.phases;
        schedule.end_behavior = body.end_behavior ?? schedule.end_behavior;
      }
      return { status: 200, body: schedule };
    }
    return notFound;
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = decodeForm(req.method === 'GET' ? url.search.slice(1) : Buffer.concat(chunks).toString('utf8'));
      const key = (req.headers['idempotency-key'] as string | undefined) ?? null;
      requests.push({ method: req.method ?? 'GET', path: url.pathname, body, idempotencyKey: key });
      const request = requests.at(-1)!;
      let answer: { status: number; body: Obj };
      if (!String(req.headers.authorization ?? '').startsWith('Bearer sk_test_')) {
        answer = { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } } };
      } else if (fake.failing?.test(url.pathname)) {
        answer = { status: 500, body: { error: { type: 'api_error', message: 'Stripe is down' } } };
      } else if (key && byIdempotencyKey.has(`${req.method} ${url.pathname} ${key}`)) {
        answer = byIdempotencyKey.get(`${req.method} ${url.pathname} ${key}`)!;
      } else {
        answer = route(req.method ?? 'GET', url.pathname, body);
        // Stripe keeps the answer of a key unless the request failed on its side (5xx can be retried)
        // or did not run (409: another request with the key in progress; 429: try again later).
        if (key && answer.status < 500 && answer.status !== 409 && answer.status !== 429)
          byIdempotencyKey.set(`${req.method} ${url.pathname} ${key}`, answer);
      }
      const requestId = `req_${counter}`;
      // The answer as the objects are now, sent once beforeAnswer lets it go.
      const text = JSON.stringify(answer.body);
      await fake.beforeAnswer?.(request);
      res.writeHead(answer.status, { 'content-type': 'application/json', 'request-id': requestId, 'stripe-should-retry': 'false' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return fake;
}
