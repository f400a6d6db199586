// The serve-env container: docker/Dockerfile copies only files that exist and that .dockerignore lets into the build
// context, its entry point and health check hold together with serve-env's flags, and the Kubernetes sample agrees
// with the image (port, user, flags, probes). With a docker daemon the image is also built and run, and an episode is
// played in it through the published port; without one that part is skipped, saying why.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { OpenEnvClient } from '../lib/env/client.ts';
import { run as serveEnv } from '../lib/cli/serve-env.ts';

const root = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');

/** Dockerfile instructions with their arguments, continuation lines joined and comments dropped. */
function instructions(text: string): Array<{ op: string; args: string }> {
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

/** Whether .dockerignore keeps `path` in the build context: the last pattern matching it or a parent decides. */
function inContext(path: string, patterns: readonly string[]): boolean {
  const toRegex = (p: string) =>
    new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*')}$`);
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let kept = true;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const re = toRegex((negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, ''));
    if (prefixes.some((p) => re.test(p))) kept = negated;
  }
  return kept;
}

/** Flags serve-env documents in --help. */
async function serveEnvFlags(): Promise<Set<string>> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    expect(await serveEnv(['--help'])).toBe(0);
    return new Set([...String(log.mock.calls[0]![0]).matchAll(/^\s+(--[\w-]+)/gm)].map((m) => m[1]!));
  } finally {
    log.mockRestore();
  }
}

describe('docker/Dockerfile', () => {
  const ins = instructions(dockerfile);

  it('copies only files that exist and are in the build context', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const sources = ins
      .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'lib', 'bin']));
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(inContext(s, ignore), `${s} is in the build context`).toBe(true);
    }
    // What the image must not carry: builds, runs, dependencies of the host.
    for (const p of ['node_modules', 'build', 'runs', 'native', 'test/config.test.ts']) expect(inContext(p, ignore), p).toBe(false);
    // The compiled CLI the entry point runs comes from the build stage, which compiles lib/ with these.
    expect(dockerfile).toMatch(/npm run build:js/);
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['build:js']).toBe('tsc -p tsconfig.build.json');
  });

  it('runs serve-env on 0.0.0.0 with flags serve-env has, as an unprivileged user, with a health check that parses', async () => {
    const entry = JSON.parse(ins.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entry.slice(0, 5)).toEqual(['tini', '--', 'node', '/app/bin/lfm2-rl.js', 'serve-env']);
    expect(existsSync(join(root, 'bin/lfm2-rl.js'))).toBe(true);
    expect(entry.slice(5)).toEqual(['--host', '0.0.0.0', '--no-sandbox']);
    const flags = await serveEnvFlags();
    for (const f of entry.filter((w) => w.startsWith('--') && w !== '--')) expect(flags, f).toContain(f);
    expect(ins.find((i) => i.op === 'USER')?.args).toBe('lfm2');
    expect(dockerfile).toMatch(/useradd .*--uid 10001 .*lfm2/);
    expect(dockerfile).toMatch(/BROWSERGYM_PORT=8000/);
    expect(ins.find((i) => i.op === 'EXPOSE')?.args).toBe('8000');
    const check = ins.find((i) => i.op === 'HEALTHCHECK')!.args;
    const cmd = JSON.parse(check.slice(check.indexOf('CMD') + 3).trim()) as string[];
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    expect(cmd[2]).toContain("'/health'");
    expect(() => new Function(cmd[2]!)).not.toThrow();
  });
});

describe('docker/k8s.yaml', () => {
  it('is a Deployment and a Service that agree with the image', async () => {
    const docs = parseAllDocuments(readFileSync(join(root, 'docker/k8s.yaml'), 'utf8')).map((d) => d.toJS() as any);
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'Service']);
    const [deploy, service] = docs;
    const pod = deploy.spec.template.spec;
    const c = pod.containers[0];
    const flags = await serveEnvFlags();
    for (const a of c.args as string[]) if (a.startsWith('--')) expect(flags, a).toContain(a);
    // Each pod accepts its own IP as Host: what clients listing the pods, and the kubelet's probes, send.
    expect(c.args.join(' ')).toContain('--allow-host $(POD_IP)');
    expect(c.env.find((e: any) => e.name === 'POD_IP').valueFrom.fieldRef.fieldPath).toBe('status.podIP');
    const port = Number(c.env.find((e: any) => e.name === 'BROWSERGYM_PORT').value);
    expect(c.ports[0].containerPort).toBe(port);
    expect(port).toBe(8000);
    for (const probe of [c.readinessProbe, c.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/health', port: c.ports[0].name });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(deploy.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(deploy.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports[0].targetPort).toBe(c.ports[0].name);
    expect(c.args.join(' ')).toContain(`--allow-host ${service.metadata.name}`);
  });
});

/** Status of a GET sent with this Host header (fetch does not let a caller set Host). */
function statusWithHost(base: string, path: string, host: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers: { host }, setHost: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** '' when a docker daemon answers, else why the image test is skipped (also printed). */
function dockerSkipReason(): string {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  let why = '';
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') why = '(skipped: no docker command on PATH)';
  else if (r.error || r.status !== 0) why = `(skipped: docker daemon not reachable: ${(r.error?.message ?? r.stderr).trim().split('\n')[0]})`;
  if (why) console.log(`docker image test ${why}`);
  return why;
}

const why = dockerSkipReason();
describe.skipIf(why !== '')(`the image under docker ${why}`, () => {
  const docker = (args: string[], timeout = 60_000) => {
    const r = spawnSync('docker', args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
    return r.stdout.trim();
  };

  it('builds, becomes healthy and plays an episode as a non-root user', async () => {
    const tag = 'lfm2-rl-env:test';
    docker(['build', '-f', 'docker/Dockerfile', '-t', tag, '.'], 1_200_000);
    // A random published port: clients then send Host 127.0.0.1:<that port>, which --allow-host admits.
    const id = docker(['run', '-d', '--rm', '-p', '127.0.0.1::8000', tag, '--allow-host', '127.0.0.1', '--max-sessions', '2']);
    try {
      expect(docker(['exec', id, 'id', '-u'])).toBe('10001');
      const url = `http://${docker(['port', id, '8000/tcp']).split('\n')[0]}`;
      let healthy = false;
      for (let i = 0; i < 120 && !healthy; i++) {
        healthy = await fetch(`${url}/health`).then((r) => r.ok, () => false);
        if (!healthy) await new Promise((r) => setTimeout(r, 500));
      }
      expect(healthy).toBe(true);
      expect(await (await fetch(`${url}/capacity`)).json()).toEqual({ active_sessions: 0, max_sessions: 2 });
      const env = await OpenEnvClient.connect(url, { transport: 'ws', timeoutMs: 60_000 });
      try {
        const obs = await env.reset({ task: 'click-test', seed: 1 });
        expect(obs.goal).toBe('Click the button.');
        const bid = /\[(\w+)\] button 'Click Me!'/.exec(obs.axtree_txt)![1];
        expect(await env.step(`click('${bid}')`)).toMatchObject({ reward: 1, done: true });
      } finally {
        await env.close();
      }
      // A host name it was not told about is refused, as outside a container.
      expect(await statusWithHost(url, '/health', 'evil.example')).toBe(421);
    } finally {
      spawnSync('docker', ['rm', '-f', id], { timeout: 60_000 });
    }
  }, 1_500_000);
});
