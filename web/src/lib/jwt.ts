// Reads (never verifies: the engine does that) the Hasura claims of a JWT.

export interface HasuraClaims {
  userId: string | null;
  orgId: string | null;
  defaultRole: string | null;
  expiresAt: number | null;
}

function base64UrlDecode(segment: string): string {
  const padded = segment
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(segment.length / 4) * 4, '=');
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function readHasuraClaims(token: string): HasuraClaims {
  const payload = token.split('.')[1];
  if (!payload) throw new Error('not a JWT');
  const body = JSON.parse(base64UrlDecode(payload)) as Record<string, unknown>;
  const claims = (body['https://hasura.io/jwt/claims'] ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    userId: str(claims['x-hasura-user-id']),
    orgId: str(claims['x-hasura-org-id']),
    defaultRole: str(claims['x-hasura-default-role']),
    expiresAt: typeof body.exp === 'number' ? body.exp : null,
  };
}
