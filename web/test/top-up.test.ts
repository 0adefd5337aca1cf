import { Observable, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import CreditsLowBalanceBanner from '../src/components/credits/CreditsLowBalanceBanner.vue';
import CreditsTopUpModal from '../src/components/credits/CreditsTopUpModal.vue';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { balance } from '../src/preview/fixtures.ts';
import { useTopUpStore } from '../src/stores/topUp.ts';
import { callsOf, createHarness, settle } from './support/harness.ts';

const withAvailable = (available: string) => {
  const row = balance({ available_credits: available });
  return {
    CreditBalance: () => ({ data: { organization_credit_balances: [row] } }),
    CreditBalanceLive: () => new Observable<FixtureResult>((o) => o.next({ data: { organization_credit_balances: [row] } })),
  };
};

describe('CreditsLowBalanceBanner', () => {
  it('appears when available credits fall under 20 % of the monthly allowance', async () => {
    const h = createHarness({ handlers: withAvailable('399.999') }); // allowance 2,000 → 20 % is 400
    const wrapper = h.mountApp(CreditsLowBalanceBanner);
    await settle();
    expect(wrapper.get('[data-test="low-balance-banner"]').text()).toContain('Only 399.999 credits left.');
  });

  it('stays away at exactly 20 %', async () => {
    const h = createHarness({ handlers: withAvailable('400.000') });
    const wrapper = h.mountApp(CreditsLowBalanceBanner);
    await settle();
    expect(wrapper.find('[data-test="low-balance-banner"]').exists()).toBe(false);
  });

  it('opens the top-up modal in one click for an owner', async () => {
    const h = createHarness({ handlers: withAvailable('10.000') });
    const wrapper = h.mountApp(CreditsLowBalanceBanner);
    await settle();
    await wrapper.get('[data-test="banner-top-up"]').trigger('click');
    expect(useTopUpStore(h.pinia).open).toBe(true);
  });

  it('tells a member to ask an owner or admin instead of offering to buy', async () => {
    const h = createHarness({ role: 'member', handlers: withAvailable('0.000') });
    const wrapper = h.mountApp(CreditsLowBalanceBanner);
    await settle();
    expect(wrapper.text()).toContain('You are out of credits.');
    expect(wrapper.find('[data-test="banner-top-up"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="banner-ask-admin"]').exists()).toBe(true);
  });
});

describe('CreditsTopUpModal', () => {
  async function openModal(options: Parameters<typeof createHarness>[0] = {}, navigate: (url: string) => void = () => {}) {
    const h = createHarness(options);
    const wrapper = h.mountApp(CreditsTopUpModal, { navigate });
    useTopUpStore(h.pinia).show();
    await settle();
    return { h, wrapper };
  }

  it('lists each pack with price, credits, price per credit, and marks only the cheapest per credit as best value', async () => {
    const { wrapper } = await openModal();
    const packs = wrapper.findAll('[data-test="pack"]');
    expect(packs.map((p) => p.get('[data-test="pack-price"]').text())).toEqual(['£5.00', '£18.00', '£80.00']);
    expect(packs.map((p) => p.get('[data-test="pack-credits"]').text())).toEqual(['500 credits', '2,000 credits', '10,000 credits']);
    // Compared side by side, with one precision: "£0.010" beside "£0.009", not "£0.01".
    expect(packs.map((p) => p.get('[data-test="price-per-credit"]').text())).toEqual([
      '£0.010 / credit',
      '£0.009 / credit',
      '£0.008 / credit',
    ]);
    expect(packs.map((p) => p.find('[data-test="best-value"]').exists())).toEqual([false, false, true]);
  });

  it('marks no pack as best value when all cost the same per credit', async () => {
    const same = [
      { id: 'p1', code: 'a', name: 'A', credits: '100.000', price_minor: '100', currency: 'GBP', sort_order: 1 },
      { id: 'p2', code: 'b', name: 'B', credits: '200.000', price_minor: '200', currency: 'GBP', sort_order: 2 },
    ];
    const { wrapper } = await openModal({ handlers: { TopUpPackages: () => ({ data: { topup_packages: same } }) } });
    expect(wrapper.findAll('[data-test="best-value"]')).toHaveLength(0);
  });

  it('compares price per credit only between packs of the same currency', async () => {
    // Per credit: GBP £0.01 and £0.009, JPY ¥1.5 and ¥1.2, HUF alone. Across currencies the yen
    // numbers or the pence would win by their unit alone; within each currency the cheaper one is best.
    const mixed = [
      { id: 'g1', code: 'g1', name: 'GBP small', credits: '500.000', price_minor: '500', currency: 'GBP', sort_order: 1 },
      { id: 'g2', code: 'g2', name: 'GBP large', credits: '2000.000', price_minor: '1800', currency: 'GBP', sort_order: 2 },
      { id: 'j1', code: 'j1', name: 'JPY small', credits: '1000.000', price_minor: '1500', currency: 'JPY', sort_order: 3 },
      { id: 'j2', code: 'j2', name: 'JPY large', credits: '5000.000', price_minor: '6000', currency: 'JPY', sort_order: 4 },
      { id: 'h1', code: 'h1', name: 'HUF', credits: '1000.000', price_minor: '350000', currency: 'HUF', sort_order: 5 },
    ];
    const { wrapper } = await openModal({ handlers: { TopUpPackages: () => ({ data: { topup_packages: mixed } }) } });
    const packs = wrapper.findAll('[data-test="pack"]');
    expect(packs.map((p) => p.get('[data-test="pack-price"]').text())).toEqual([
      '£5.00',
      '£18.00',
      'JP¥1,500',
      'JP¥6,000',
      'HUF\u00a03,500.00',
    ]);
    expect(packs.map((p) => p.find('[data-test="best-value"]').exists())).toEqual([false, true, false, true, false]);
  });

  it('names a pack once when its name is only its credits, and prices per credit with one precision per currency', async () => {
    // The demo's packs: "500 credits" showed "500 credits / 500 credits", and £0.02 beside £0.0179.
    const demo = [
      { id: 'd1', code: 'pack_500', name: '500 credits', credits: '500.000', price_minor: '1000', currency: 'GBP', sort_order: 1 },
      { id: 'd2', code: 'pack_1400', name: '1,400 credits', credits: '1400.000', price_minor: '2500', currency: 'GBP', sort_order: 2 },
      { id: 'd3', code: 'pack_big', name: 'Big pack', credits: '3000.000', price_minor: '5000', currency: 'GBP', sort_order: 3 },
      { id: 'd4', code: 'jpy', name: 'Yen pack', credits: '1000.000', price_minor: '1500', currency: 'JPY', sort_order: 4 },
      { id: 'd5', code: 'jpy2', name: 'Yen pack 2', credits: '1000.000', price_minor: '2000', currency: 'JPY', sort_order: 5 },
    ];
    const { wrapper } = await openModal({ handlers: { TopUpPackages: () => ({ data: { topup_packages: demo } }) } });
    const packs = wrapper.findAll('[data-test="pack"]');
    expect(packs.map((p) => p.get('.pack-name').text().replace('Best value', '').trim())).toEqual([
      '500 credits',
      '1,400 credits',
      'Big pack',
      'Yen pack',
      'Yen pack 2',
    ]);
    expect(packs.map((p) => p.find('[data-test="pack-credits"]').exists() && p.get('[data-test="pack-credits"]').text())).toEqual([
      false,
      false,
      '3,000 credits',
      '1,000 credits',
      '1,000 credits',
    ]);
    expect(packs.map((p) => p.get('[data-test="price-per-credit"]').text())).toEqual([
      '£0.0200 / credit',
      '£0.0179 / credit',
      '£0.0167 / credit',
      'JP¥1.5 / credit',
      'JP¥2.0 / credit',
    ]);
  });

  it('sends the owner to the checkout of the chosen pack', async () => {
    const visited: string[] = [];
    const { h, wrapper } = await openModal(
      {
        handlers: {
          CreateTopUpCheckout: () => ({ data: { createTopUpCheckout: { purchaseId: 'pu1', checkoutUrl: 'https://checkout.test/s/1' } } }),
        },
      },
      (url) => visited.push(url),
    );
    await wrapper.findAll('[data-test="pack"] input')[0]!.setValue(true);
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'CreateTopUpCheckout')[0]?.variables).toEqual({ packageId: 'bbbbbbbb-0000-4000-8000-000000000001' });
    expect(visited).toEqual(['https://checkout.test/s/1']);
  });

  it("shows the API's refusal in words, with the next step, and its message only under Details", async () => {
    const message =
      'only owners and admins can manage billing; user 2bcb5e7a-0c1f-4b7e-9d1a-3f0e8c2a6445 is a member of 5bc7d2f4-6a3e-4c1b-8e9f-0a1b2c3d18c5';
    const { wrapper } = await openModal({
      handlers: { CreateTopUpCheckout: () => ({ errors: [{ message, extensions: { code: 'FORBIDDEN' } }] }) },
    });
    await wrapper.get('form').trigger('submit');
    await settle();
    const error = wrapper.get('[data-test="checkout-error"]');
    expect(error.get('[data-test="checkout-error-words"]').text()).toBe(
      'You are not allowed to do this in this organization. Ask an owner or admin of your organization.',
    );
    expect(error.get('details').text()).toContain(message);
    expect(error.text().replace(error.get('details').text(), '')).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it.each([
    [
      'the api behind the engine is down',
      { message: 'http exception when calling webhook', extensions: { path: '$', code: 'unexpected' } },
      'The server could not complete this: a service behind it did not answer, or failed. Retry.',
    ],
    [
      'a pack no longer on sale',
      { message: 'no top-up package bbbbbbbb-0000-4000-8000-000000000001 is on sale', extensions: { code: 'INVALID_INPUT' } },
      'The server did not accept this: a value is not valid, or something chosen is no longer offered. Check what you entered, or reload the page for the current choices.',
    ],
    [
      'the payment provider failing',
      { message: 'payments are not configured on this api', extensions: { code: 'PAYMENT_PROVIDER_ERROR' } },
      'The payment provider could not complete this. Try again later; if it keeps failing, contact support.',
    ],
  ])('says in words what went wrong at checkout: %s', async (_name, answer, words) => {
    const { wrapper } = await openModal({ handlers: { CreateTopUpCheckout: () => ({ errors: [answer] }) } });
    await wrapper.get('form').trigger('submit');
    await settle();
    const error = wrapper.get('[data-test="checkout-error"]');
    expect(error.get('[data-test="checkout-error-words"]').text()).toBe(words);
    expect(error.text().replace(error.get('details').text(), '')).not.toContain(answer.message);
    expect(error.get('details').text()).toContain(answer.message);
  });

  it('offers members no checkout at all', async () => {
    const { h, wrapper } = await openModal({ role: 'member' });
    expect(wrapper.find('[data-test="member-cannot-buy"]').exists()).toBe(true);
    expect(wrapper.find('[data-test="checkout"]').exists()).toBe(false);
    expect(callsOf(h.calls, 'CreateTopUpCheckout')).toHaveLength(0);
  });

  it('after checkout waits for the credits to land, live, then says they were added', async () => {
    const purchase = new Subject<FixtureResult>();
    const h = createHarness({ handlers: { TopUpPurchase: () => purchase.asObservable() } });
    const wrapper = h.mountApp(CreditsTopUpModal);
    useTopUpStore(h.pinia).showReturn('success', 'pu1');
    await settle();
    expect(wrapper.find('[data-test="topup-pending"]').exists()).toBe(true);
    const row = { __typename: 'topup_purchases', id: 'pu1', credits: '2000.000', price_minor: '1800', currency: 'GBP' };
    purchase.next({ data: { topup_purchases_by_pk: { ...row, status: 'pending', grant_id: null } } });
    await settle();
    expect(wrapper.find('[data-test="topup-pending"]').exists()).toBe(true);
    purchase.next({ data: { topup_purchases_by_pk: { ...row, status: 'paid', grant_id: 'g1' } } });
    await settle();
    expect(wrapper.get('[data-test="topup-succeeded"]').text()).toContain('2,000 credits added.');
    expect(callsOf(h.calls, 'TopUpPurchase')[0]?.variables).toEqual({ id: 'pu1' });
  });

  it('shows a failed payment and a canceled checkout as such', async () => {
    const failed = createHarness({
      handlers: {
        TopUpPurchase: () =>
          new Observable<FixtureResult>((o) =>
            o.next({
              data: {
                topup_purchases_by_pk: {
                  id: 'pu2',
                  status: 'failed',
                  credits: '500.000',
                  price_minor: '500',
                  currency: 'GBP',
                  grant_id: null,
                },
              },
            }),
          ),
      },
    });
    const w1 = failed.mountApp(CreditsTopUpModal);
    useTopUpStore(failed.pinia).showReturn('success', 'pu2');
    await settle();
    expect(w1.find('[data-test="topup-failed"]').exists()).toBe(true);

    const canceled = createHarness();
    const w2 = canceled.mountApp(CreditsTopUpModal);
    useTopUpStore(canceled.pinia).showReturn('canceled', null);
    await settle();
    expect(w2.find('[data-test="topup-canceled"]').exists()).toBe(true);
  });

  it('closes with Escape and is a labelled modal dialog', async () => {
    const { h, wrapper } = await openModal();
    const dialog = wrapper.get('[role="dialog"]');
    expect(dialog.attributes('aria-modal')).toBe('true');
    expect(wrapper.get(`#${dialog.attributes('aria-labelledby')}`).text()).toBe('Buy credits');
    await dialog.trigger('keydown', { key: 'Escape' });
    expect(useTopUpStore(h.pinia).open).toBe(false);
  });
});
