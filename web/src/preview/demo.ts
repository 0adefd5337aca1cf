// Design preview (VITE_DEMO_MOCK=1): the app over fixture data, to look at the screens without
// the backend. Not a data path of the real app; the page shows a "Design preview" flag.
import { Observable } from 'rxjs';
import { createFixtureConnection, type FixtureHandler } from './fixtureLink.ts';
import { defaultHandlers, demoPerson, fakeToken, ORG_ID, USER_ID } from './fixtures.ts';

export function signInDemo() {
  const token = fakeToken(USER_ID, ORG_ID);
  localStorage.setItem('org-credits.session', JSON.stringify({ token, person: demoPerson }));
}

export function createDemoConnection() {
  const params = new URLSearchParams(window.location.search);
  const handlers: Record<string, FixtureHandler> = defaultHandlers(
    new Date(),
    (params.get('role') as 'owner' | 'member' | null) ?? 'owner',
  );
  handlers.RunPlayground = () => ({
    data: {
      runPlayground: {
        reservationId: 'eeeeeeee-0000-4000-8000-000000000001',
        output: 'The report finds revenue grew 12% year on year, driven by the new self-serve plan; churn fell to 2.1%.',
        modelId: 'openai/gpt-4.1-mini',
        inputTokens: 1480,
        outputTokens: 212,
        chargedCredits: '2.140',
        availableCredits: '1735.360',
      },
    },
  });
  if (params.get('low') === '1') {
    handlers.CreditBalance = () => ({
      data: {
        organization_credit_balances: [
          {
            ...(defaultHandlers(new Date()).CreditBalance!({}) as { data: { organization_credit_balances: object[] } }).data
              .organization_credit_balances[0],
            allowance_remaining_credits: '150.000',
            purchased_remaining_credits: '0.000',
            available_credits: '150.000',
          },
        ],
      },
    });
    handlers.CreditBalanceLive = (v) => new Observable((o) => o.next(handlers.CreditBalance!(v) as never));
  }
  return createFixtureConnection(handlers);
}
