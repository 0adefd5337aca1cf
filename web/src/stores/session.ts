// Who is signed in, for which org. The token is the only credential; the person's orgs come from
// the dev directory (dev sign-in) or, with a production issuer, just the org in the token.
import { defineStore } from 'pinia';
import { computed, inject, ref } from 'vue';
import { GRAPHQL_CONNECTION } from '../lib/apollo.ts';
import { APP_CONFIG } from '../lib/app-config.ts';
import { readHasuraClaims } from '../lib/jwt.ts';

export interface DevOrg {
  orgId: string;
  orgName: string;
  role: 'owner' | 'admin' | 'member';
}

export interface DevPerson {
  userId: string;
  email: string;
  displayName: string;
  orgs: DevOrg[];
}

interface Persisted {
  token: string;
  person: DevPerson | null;
}

/** The session's key in localStorage, shared by the app's tabs. */
export const SESSION_STORAGE_KEY = 'org-credits.session';
const STORAGE_KEY = SESSION_STORAGE_KEY;

function load(): Persisted | null {
  try {
    const raw = globalThis.localStorage?.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Persisted) : null;
  } catch {
    return null;
  }
}

export const useSessionStore = defineStore('session', () => {
  const config = inject(APP_CONFIG, null);
  const connection = inject(GRAPHQL_CONNECTION, null);
  const initial = load();
  const token = ref<string | null>(initial?.token ?? null);
  const person = ref<DevPerson | null>(initial?.person ?? null);

  const claims = computed(() => {
    if (!token.value) return null;
    try {
      return readHasuraClaims(token.value);
    } catch {
      return null;
    }
  });
  const userId = computed(() => claims.value?.userId ?? null);
  const orgId = computed(() => claims.value?.orgId ?? null);
  // A token past its expiry is no session: the router then sends the person to sign in, keeping
  // where they were going (before, the first query's refusal did, from the start location "/").
  const signedIn = computed(
    () => userId.value !== null && orgId.value !== null && (claims.value?.expiresAt == null || claims.value.expiresAt * 1000 > Date.now()),
  );
  const orgs = computed<DevOrg[]>(() => person.value?.orgs ?? []);
  const currentOrg = computed(() => orgs.value.find((o) => o.orgId === orgId.value) ?? null);

  function persist() {
    if (token.value) globalThis.localStorage?.setItem(STORAGE_KEY, JSON.stringify({ token: token.value, person: person.value }));
    else globalThis.localStorage?.removeItem(STORAGE_KEY);
  }

  function apiUrl(path: string): string {
    if (!config) throw new Error('no app config provided');
    return `${config.apiUrl}${path}`;
  }

  /** The seeded demo people (dev only: the api refuses in production mode). */
  async function fetchDevPeople(): Promise<DevPerson[]> {
    const response = await fetch(apiUrl('/dev/people'));
    if (!response.ok) throw new Error(`The dev sign-in is not available (HTTP ${response.status}).`);
    return (await response.json()) as DevPerson[];
  }

  async function requestDevToken(userIdValue: string, orgIdValue: string): Promise<string> {
    const response = await fetch(apiUrl('/dev/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: userIdValue, orgId: orgIdValue }),
    });
    if (!response.ok) throw new Error(`Could not get a token (HTTP ${response.status}).`);
    const body = (await response.json()) as { token?: string };
    if (!body.token) throw new Error('The token endpoint answered without a token.');
    return body.token;
  }

  async function applyToken(next: string | null, who: DevPerson | null) {
    token.value = next;
    person.value = who;
    persist();
    await connection?.reset();
  }

  async function signInAs(who: DevPerson, org: string) {
    await applyToken(await requestDevToken(who.userId, org), who);
  }

  /** A token issued elsewhere (any issuer Hasura trusts). */
  async function signInWithToken(jwt: string) {
    const read = readHasuraClaims(jwt);
    if (!read.userId || !read.orgId) throw new Error('That token names no user and organization (x-hasura-user-id, x-hasura-org-id).');
    if (read.expiresAt !== null && read.expiresAt * 1000 <= Date.now()) throw new Error('That token has expired.');
    await applyToken(jwt, null);
  }

  /** A new token for another org of the same person. */
  async function switchOrg(org: string) {
    if (!person.value) throw new Error('Switching orgs needs the dev sign-in or a new token from your issuer.');
    await applyToken(await requestDevToken(person.value.userId, org), person.value);
  }

  async function signOut() {
    await applyToken(null, null);
  }

  /**
   * Takes the session another tab wrote (it signed out, signed in as someone else or switched org),
   * so that this tab never acts with a session the person ended there. Whether it changed.
   */
  async function followStored(): Promise<boolean> {
    const stored = load();
    if ((stored?.token ?? null) === token.value) return false;
    token.value = stored?.token ?? null;
    person.value = stored?.person ?? null;
    await connection?.reset();
    return true;
  }

  return {
    token,
    person,
    userId,
    orgId,
    signedIn,
    orgs,
    currentOrg,
    fetchDevPeople,
    signInAs,
    signInWithToken,
    switchOrg,
    signOut,
    followStored,
  };
});
