// Who may drive the server. It runs a real browser and whatever actions it is sent, so no web page may use it: a
// page open in a local browser can send requests to 127.0.0.1 (POSTs that need no CORS preflight, and WebSocket
// upgrades, which CORS does not cover at all), and DNS rebinding can even make such a page look same-origin.
//   Host    must name this server: localhost, 127.0.0.1, [::1] or the bound address, with the bound port, or a name
//           given with --allow-host (a rebinding page's requests carry the attacker's name here) → else 421.
//   Origin  when present (browsers send it on cross-origin requests, on every POST and on WebSocket upgrades) must be
//           this server's own origin or one given with --allow-origin → else 403.
//   POST    bodies must be declared application/json (a page can only send that cross-origin after a CORS preflight,
//           which this server never grants) → else 415. A POST without a body needs no type.
// Programs (OpenEnv and TRL clients, curl, this project's client) send no Origin and the Host they connected to.
import type { IncomingMessage } from 'node:http';
import { EnvServerError } from './errors.ts';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Where the server listens: the host it was asked to bind, the address it got, the port. */
export interface Bound {
  host: string;
  address: string;
  port: number;
}

export interface GuardOptions {
  /** Extra origins allowed in the Origin header, e.g. 'http://localhost:3000'. */
  allowOrigins?: readonly string[];
  /** Extra Host names: 'name' (any port) or 'name:port' (that port only), e.g. a container's service name. */
  allowHosts?: readonly string[];
}

/** `host[:port]` → lower-case host name (IPv6 in brackets) and port ('' when absent); undefined when malformed. */
function splitHost(value: string): { name: string; port: string } | undefined {
  if (value === '' || /[\s/?#@]/.test(value)) return undefined;
  try {
    const u = new URL(`http://${value}`);
    // URL drops ':80' for http; keep the port as written so 'name:80' and 'name' are told apart only by the rules.
    const port = /:(\d+)$/.exec(value)?.[1] ?? '';
    return { name: u.hostname.toLowerCase(), port };
  } catch {
    return undefined;
  }
}

/** An --allow-origin value as the Origin header spells it ('scheme://host[:port]'), or an Error saying what is wrong. */
export function normaliseOrigin(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`allowed origin '${value}' is not a URL like http://localhost:3000`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`allowed origin '${value}' must start with http:// or https://`);
  }
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
    throw new Error(`allowed origin '${value}' must be only scheme, host and port (e.g. ${u.origin})`);
  }
  return u.origin;
}

/** An --allow-host value, checked: a host name or address, optionally with ':port'. */
export function normaliseAllowedHost(value: string): string {
  const h = splitHost(value.trim());
  if (!h) throw new Error(`allowed host '${value}' is not a host name like myserver or myserver:8000`);
  return h.port ? `${h.name}:${h.port}` : h.name;
}

export class RequestGuard {
  private readonly extraOrigins: Set<string>;
  private readonly extraHosts: Set<string>;

  /**
   * `bound` gives, once the server listens, the host it was asked to bind (a name or address), the address it bound
   * and the port.
   */
  constructor(
    private readonly bound: () => Bound | undefined,
    opts: GuardOptions = {},
  ) {
    this.extraOrigins = new Set((opts.allowOrigins ?? []).map(normaliseOrigin));
    this.extraHosts = new Set((opts.allowHosts ?? []).map(normaliseAllowedHost));
  }

  /** Host names that mean this server: loopback names, the bind host and the bound address (unless wildcards). */
  private ownNames(b: Bound): string[] {
    const names = [...LOOPBACK_NAMES];
    for (const host of [b.host, b.address]) {
      const h = splitHost(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
      if (h && h.name !== '0.0.0.0' && h.name !== '[::]' && !names.includes(h.name)) names.push(h.name);
    }
    return names;
  }

  private hostAllowed(value: string | undefined): boolean {
    const b = this.bound();
    if (value === undefined || !b) return false;
    const h = splitHost(value.trim());
    if (!h) return false;
    const port = h.port === '' ? '80' : h.port;
    if (this.ownNames(b).includes(h.name) && port === String(b.port)) return true;
    return this.extraHosts.has(h.name) || this.extraHosts.has(`${h.name}:${port}`);
  }

  private originAllowed(origin: string): boolean {
    const b = this.bound();
    if (!b) return false;
    let o: string;
    try {
      o = new URL(origin).origin;
    } catch {
      return false; // 'null' (sandboxed frames, file:// pages) and anything malformed
    }
    if (o === 'null') return false;
    if (this.extraOrigins.has(o)) return true;
    const own = this.ownNames(b).map((n) => new URL(`http://${n}:${b.port}`).origin);
    return own.includes(o);
  }

  /** Host and Origin of any request or WebSocket upgrade; undefined when it may proceed. */
  check(req: IncomingMessage): EnvServerError | undefined {
    const host = req.headers.host;
    if (!this.hostAllowed(host)) {
      return new EnvServerError(
        421,
        'wrong_host',
        `Host '${host ?? ''}' does not name this server (allowed: localhost, 127.0.0.1, [::1] or the bound address ` +
          `with its port; serve-env --allow-host NAME adds one)`,
      );
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) {
      return new EnvServerError(
        403,
        'forbidden_origin',
        `requests from web pages at origin '${origin}' are refused (serve-env --allow-origin ORIGIN allows one)`,
      );
    }
    return undefined;
  }

  /** A POST body must be declared JSON (a POST without a body, as seed-era clients send to /reset, has none). */
  checkBody(req: IncomingMessage): EnvServerError | undefined {
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!hasBody || type === 'application/json') return undefined;
    return new EnvServerError(
      415,
      'unsupported_media_type',
      `POST bodies must be sent with content-type: application/json, got '${req.headers['content-type'] ?? ''}'`,
    );
  }
}
