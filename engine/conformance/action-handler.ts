// The conformance runner's stand-in for the action webhook of Hasura's Python test harness
// (tests-py/INDEX.md: routes /create-user, /mirror-action, /get-user-by-email, …). Written here from
// the behaviour the actions/sync fixtures expect; it calls back into the engine as the harness does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ActionHandler {
  url: string;
  /** Where the handler sends its own GraphQL calls (the engine under test) and with which admin secret. */
  target: { url: string; adminSecret: string } | null;
  close(): Promise<void>;
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

type Body = { input?: Record<string, unknown>; session_variables?: Record<string, string> };

export async function startActionHandler(port = 5593, host = '127.0.0.1'): Promise<ActionHandler> {
  const handler: ActionHandler = { url: '', target: null, close: async () => undefined };

  const engine = async (query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> => {
    if (!handler.target) throw new Error('the action handler has no engine to call');
    const res = await fetch(handler.target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': handler.target.adminSecret },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown };
    if (body.errors) throw new Error(`engine call failed: ${JSON.stringify(body.errors)}`);
    return body.data ?? {};
  };
  const insertUser = async (email: string, name: string) =>
    (
      (await engine('mutation ($email: String!, $name: String!) { insert_user_one(object: {email: $email, name: $name}) { id } }', {
        email,
        name,
      })) as { insert_user_one: { id: number } }
    ).insert_user_one;
  const usersByEmail = async (email: string) =>
    (
      (await engine('query ($email: String!) { user(where: {email: {_eq: $email}}, order_by: {id: asc}) { id } }', { email })) as {
        user: { id: number }[];
      }
    ).user;
  const nested = (id: number) => ({
    id,
    user_id: { id },
    address: { city: 'New York', country: 'USA' },
    addresses: [
      { city: 'Bangalore', country: 'India' },
      { city: 'Melbourne', country: 'Australia' },
    ],
  });

  const routes: Record<string, (body: Body, req: IncomingMessage) => Promise<[number, unknown]>> = {
    '/create-user': async ({ input }) => {
      const { email, name } = input as { email: string; name: string };
      if (!EMAIL.test(email))
        return [
          400,
          { message: `Email address is not valid: ${email}`, extensions: { validation_error: `${email} is not a valid email` } },
        ];
      return [200, await insertUser(email, name)];
    },
    '/create-users': async ({ input }) => {
      const users = (input as { users: { email: string; name: string }[] }).users;
      for (const u of users)
        if (!EMAIL.test(u.email)) return [400, { message: `Email address is not valid: ${u.email}`, code: 'invalid-email' }];
      const out: unknown[] = [];
      for (const u of users) out.push(await insertUser(u.email, u.name));
      return [200, out];
    },
    '/mirror-action': async ({ input }) => [200, (input as { arg: unknown }).arg],
    '/mirror-headers': async (_b, req) => [
      200,
      { headers: Object.entries(req.headers).map(([name, value]) => ({ name, value: String(value) })) },
    ],
    '/get-user-by-email': async ({ input }) => {
      const email = String((input as { email: string }).email);
      if (!EMAIL.test(email)) return [400, { message: 'Given email address is not valid', code: 'invalid-email' }];
      const [user] = await usersByEmail(email);
      if (!user) return [400, { message: 'No users found with given email', code: 'user-not-found' }];
      return [200, { id: user.id }];
    },
    '/get-users-by-email': async ({ input }) => {
      const email = String((input as { email: string }).email);
      if (!EMAIL.test(email)) return [400, { message: 'Given email address is not valid', code: 'invalid-email' }];
      return [200, (await usersByEmail(email)).map((u) => ({ id: u.id }))];
    },
    '/get-user-by-email-nested': async ({ input }) => {
      const email = String((input as { email: string }).email);
      if (!EMAIL.test(email)) return [400, { message: 'Given email address is not valid', code: 'invalid-email' }];
      const [user] = await usersByEmail(email);
      if (!user) return [400, { message: 'No users found with given email', code: 'user-not-found' }];
      return [200, nested(user.id)];
    },
    '/get-users-by-email-nested': async ({ input }) => {
      const email = String((input as { email: string }).email);
      if (!EMAIL.test(email)) return [400, { message: 'Given email address is not valid', code: 'invalid-email' }];
      return [200, (await usersByEmail(email)).map((u) => nested(u.id))];
    },
    '/intentional-error': async ({ input }) => [400, (input as { blob: unknown }).blob],
    '/null-response': async () => [200, null],
    '/scalar-response': async () => [200, 'some-string'],
    '/json-response': async () => [200, { foo: 'bar' }],
    '/scalar-array-response': async () => [200, ['foo', 'bar', null]],
    '/custom-scalar-array-response': async () => [200, [{ foo: 'bar' }]],
    '/invalid-response': async () => [200, 'some-string'],
    '/recursive-output': async () => [
      200,
      {
        direct: { id: 1, this: { id: 2, this: { id: 3 } } },
        list: { id: 1, these: [{ id: 2, these: [{ id: 3 }] }, { id: 4 }] },
        mutual: { id: 1, that: { id: 2, other: { id: 3, that: { id: 4 } } } },
      },
    ],
    '/get-results': async () => [200, { result_ids: [1, 2, 3, 4] }],
    '/typed-nested-null': async () => [200, { id: 1, child: null }],
    '/typed-nested-null-wrong-field': async () => [200, { id: 1, child: null, wrong_field: 'x' }],
  };

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Set-Cookie': 'abcd' });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const route = routes[(req.url ?? '/').split('?')[0] as string];
      if (!route) return reply(res, 404, { message: `no such route ${req.url}` });
      let body: Body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body;
      } catch {
        return reply(res, 400, { message: 'the request body is not JSON' });
      }
      route(body, req).then(
        ([status, out]) => reply(res, status, out),
        (error: Error) => reply(res, 500, { message: error.message }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  handler.url = `http://${host}:${address.port}`;
  handler.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return handler;
}
