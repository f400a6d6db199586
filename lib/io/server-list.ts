// The forms the `env_url` key takes: one OpenEnv server URL, several (a YAML list, or comma-separated on the command
// line), or '@FILE', a file with one URL per line. Every URL is checked with openEnvBaseUrl, and no server may appear
// twice: episodes are spread by each server's free capacity, so a repeated server would be counted twice.
import { readFileSync } from 'node:fs';
import { openEnvBaseUrl } from '../env/server-url.ts';

export const SERVER_FILE_HINT = 'one URL per line; blank lines and lines starting with # are skipped';

/** What is wrong with a server list, worded to follow the key name. */
export class ServerListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerListError';
  }
}

/** A list entry as the user wrote it, for messages. */
function shown(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return 'a list';
  return v !== null && typeof v === 'object' ? 'a mapping' : String(v);
}

interface Entry {
  url: string;
  /** How an error names the entry: 'entry 2' or 'servers.txt:7'. */
  where: string;
}

/** Checks every URL and that no server appears twice (compared by the base URL the client derives). */
function checkEntries(entries: readonly Entry[]): string[] {
  const seen = new Map<string, Entry>();
  for (const e of entries) {
    let base: string;
    try {
      base = openEnvBaseUrl(e.url);
    } catch (err) {
      throw new ServerListError(e.where === '' ? (err as Error).message : `${e.where}: ${(err as Error).message}`);
    }
    const first = seen.get(base);
    if (first) throw new ServerListError(`${e.where} repeats the server of ${first.where} (${base})`);
    seen.set(base, e);
  }
  return entries.map((e) => e.url);
}

/** The URLs of a server file: one per line, blank lines and '#' comment lines skipped. */
export function readServerFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServerListError(`cannot read the server file ${path}: ${(err as Error).message}`);
  }
  const entries: Entry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (/\s/.test(line)) throw new ServerListError(`${path}:${i + 1}: expected one URL, got '${line}' (${SERVER_FILE_HINT})`);
    entries.push({ url: line, where: `${path}:${i + 1}` });
  });
  if (entries.length === 0) throw new ServerListError(`the server file ${path} lists no server (${SERVER_FILE_HINT})`);
  return checkEntries(entries);
}

/**
 * The server URLs of an `env_url` value: a URL, a comma-separated string of them, a list of them, or '@FILE' (the
 * whole value; a relative path is taken from the working directory, like every path of a config). URLs are kept as
 * written (trimmed); throws ServerListError saying what is wrong and where.
 */
export function parseServerList(value: unknown): string[] {
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.startsWith('@')) {
      const path = text.slice(1).trim();
      if (path === '') throw new ServerListError("'@' must be followed by the name of a server file");
      return readServerFile(path);
    }
    const parts = text.split(',').map((s) => s.trim());
    if (parts.every((p) => p === '')) throw new ServerListError('must name at least one server');
    if (parts.length === 1) return checkEntries([{ url: parts[0], where: '' }]);
    const empty = parts.findIndex((p) => p === '');
    if (empty >= 0) throw new ServerListError(`entry ${empty + 1} of the comma-separated list is empty`);
    return checkEntries(parts.map((url, i) => ({ url, where: `entry ${i + 1}` })));
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new ServerListError('must name at least one server');
    const entries = value.map((v, i): Entry => {
      if (typeof v !== 'string' || v.trim() === '') throw new ServerListError(`entry ${i + 1} must be a server URL (got ${shown(v)})`);
      if (v.trim().startsWith('@')) throw new ServerListError(`entry ${i + 1} ('${v}'): a server file is given as the whole value (env_url: '@servers.txt'), not as a list entry`);
      return { url: v.trim(), where: `entry ${i + 1}` };
    });
    return checkEntries(entries);
  }
  throw new ServerListError("must be a server URL, a list of them, or '@FILE' naming a file of them");
}
