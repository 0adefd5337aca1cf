// Small readers for docker-compose.yml and env files, used by the compose test.

/** Names of the variables a compose file interpolates (`${X}`, `${X:-d}`, `$X`; `$$` escapes). */
export function composeVariables(text: string): string[] {
  const names = new Set<string>();
  const pattern = /\$(\$)|\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
  for (const match of text.matchAll(pattern)) {
    if (match[1]) continue;
    const name = match[2] ?? match[3];
    if (name) names.add(name);
  }
  return [...names];
}

/** Names an env file defines (`NAME=value` lines; comments and blanks ignored). */
export function envFileNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line);
    if (match?.[1]) names.add(match[1]);
  }
  return names;
}

/** Keys that look secret (SECRET, PASSWORD, KEY, TOKEN) but whose value is not only a variable. */
export function secretLiterals(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.+?)\s*$/.exec(line);
    if (!match?.[1] || !match[2]) continue;
    if (!/SECRET|PASSWORD|KEY|TOKEN/i.test(match[1])) continue;
    const value = match[2].replace(/^["']|["']$/g, '');
    if (!/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(value)) found.push(match[1]);
  }
  return found;
}
