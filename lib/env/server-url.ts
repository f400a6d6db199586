// Normalises the URL of a remote OpenEnv server, whichever of its forms a user pastes (serve-env prints the
// WebSocket endpoint; the client needs the HTTP base it derives both transports from).

/**
 * The HTTP base URL of an OpenEnv server from any of the forms people paste: `http(s)://host:port`,
 * `ws(s)://host:port`, the WebSocket endpoint `ws://host:port/ws` that `serve-env` prints, with or without a trailing
 * slash. A path before `/ws` (a server behind a reverse proxy) is kept. Throws naming the URL for anything else.
 */
export function openEnvBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new Error(`OpenEnv server URL '${url}' is not a URL (expected http://host:port or ws://host:port/ws)`);
  }
  const scheme = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' }[u.protocol];
  if (scheme === undefined) {
    throw new Error(`OpenEnv server URL must start with http://, https://, ws:// or wss://, got '${url}'`);
  }
  if (u.search !== '' || u.hash !== '') throw new Error(`OpenEnv server URL '${url}' must not have a query or fragment`);
  // '/', '/ws', '/ws/', '/prefix/ws/' → '', '', '', '/prefix'
  const path = u.pathname.replace(/\/+$/, '').replace(/\/ws$/, '');
  return `${scheme}//${u.host}${path}`;
}
