// Resolves the `model` setting to a local folder: an existing folder is used as is; a Hugging Face id
// (owner/name) is looked up in the standard HF cache (HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub, the layout
// transformers uses, so weights downloaded by Python tools are found too) and downloaded there with @huggingface/hub
// when missing, with a progress bar. Without network the error says where to put the weights and names the offline
// config.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { downloadFileToCacheDir, getHFHubCachePath, listFiles } from '@huggingface/hub';
import { formatCount, ProgressBar, type ProgressStream } from './progress.ts';

export const OFFLINE_CONFIG = 'configs/tiny_click_test.yaml';
const HF_ID_RE = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
/** Files a model folder needs; everything else in a repo (GGUF, ONNX, images) is not downloaded. */
const WANTED = /^(config\.json|generation_config\.json|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.jinja)$/;

export interface ResolveOptions {
  revision?: string;
  cacheDir?: string;
  /** Injected fetch (tests, proxies). */
  fetch?: typeof fetch;
  /** Hub endpoint (HF_ENDPOINT by default). */
  hubUrl?: string;
  /** Never touch the network (also when HF_HUB_OFFLINE=1). */
  offline?: boolean;
  progress?: ProgressStream | null;
  accessToken?: string;
}

export interface ResolvedModel {
  dir: string;
  source: 'local' | 'cache' | 'download';
}

export function isHfId(spec: string): boolean {
  return HF_ID_RE.test(spec) && !spec.startsWith('.') && !spec.includes('..');
}

/** A folder is a usable model when it has config.json and safetensors weights (single file or sharded index). */
export function modelFolderProblem(dir: string): string | null {
  if (!existsSync(join(dir, 'config.json'))) return 'has no config.json';
  if (!existsSync(join(dir, 'model.safetensors')) && !existsSync(join(dir, 'model.safetensors.index.json'))) {
    return 'has no model.safetensors (or model.safetensors.index.json)';
  }
  return null;
}

function repoCacheDir(cacheDir: string, id: string): string {
  return join(cacheDir, `models--${id.split('/').join('--')}`);
}

/** Snapshot folder of a cached repo at a revision (refs/<revision> → commit), if it holds a complete model. */
export function findCachedSnapshot(cacheDir: string, id: string, revision = 'main'): string | null {
  const repo = repoCacheDir(cacheDir, id);
  const refPath = join(repo, 'refs', revision);
  const candidates: string[] = [];
  if (existsSync(refPath)) candidates.push(readFileSync(refPath, 'utf8').trim());
  else if (/^[0-9a-f]{40}$/.test(revision)) candidates.push(revision);
  const snaps = join(repo, 'snapshots');
  if (candidates.length === 0 && existsSync(snaps) && revision === 'main') {
    // No ref written (e.g. copied by hand): accept the most recently modified snapshot.
    candidates.push(...readdirSync(snaps).sort((a, b) => statSync(join(snaps, b)).mtimeMs - statSync(join(snaps, a)).mtimeMs));
  }
  for (const c of candidates) {
    const dir = join(snaps, c);
    if (existsSync(dir) && modelFolderProblem(dir) === null) return dir;
  }
  return null;
}

function offlineMessage(id: string, cacheDir: string, why: string): string {
  return [
    `cannot download ${id}: ${why}.`,
    `Put the model files (config.json, model.safetensors, tokenizer.json, tokenizer_config.json) in a folder and pass`,
    `--model <folder>, or place a Hugging Face cache snapshot under ${repoCacheDir(cacheDir, id)}/snapshots/<commit>/`,
    `(with refs/main holding <commit>). To try the pipeline offline, run: make run config=${OFFLINE_CONFIG}`,
  ].join('\n');
}

function isNetworkError(e: unknown): boolean {
  const text = `${(e as Error)?.message ?? ''} ${String((e as { cause?: unknown })?.cause ?? '')}`;
  return e instanceof TypeError || /fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|getaddrinfo/i.test(text);
}

/** Resolves a model folder or HF id to a local folder (see module comment). */
export async function resolveModel(spec: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  if (existsSync(spec)) {
    if (!statSync(spec).isDirectory()) throw new Error(`model '${spec}' is a file; pass the model folder (with config.json and model.safetensors)`);
    const problem = modelFolderProblem(spec);
    if (problem) throw new Error(`model folder '${spec}' ${problem}`);
    return { dir: spec, source: 'local' };
  }
  if (!isHfId(spec)) {
    throw new Error(`model folder '${spec}' does not exist (and '${spec}' is not a Hugging Face id like LiquidAI/LFM2-350M). For an offline run use ${OFFLINE_CONFIG}`);
  }
  const revision = opts.revision ?? 'main';
  const cacheDir = opts.cacheDir ?? getHFHubCachePath();
  const cached = findCachedSnapshot(cacheDir, spec, revision);
  if (cached) return { dir: cached, source: 'cache' };
  if (opts.offline || process.env.HF_HUB_OFFLINE === '1') throw new Error(offlineMessage(spec, cacheDir, 'offline mode (HF_HUB_OFFLINE=1) and not in the cache'));

  const credentials = opts.accessToken ? { accessToken: opts.accessToken } : process.env.HF_TOKEN ? { accessToken: process.env.HF_TOKEN } : {};
  const hubUrl = opts.hubUrl ?? process.env.HF_ENDPOINT;
  const baseFetch = opts.fetch ?? fetch;
  try {
    const wanted: { path: string; size: number }[] = [];
    for await (const f of listFiles({ repo: spec, revision, hubUrl, fetch: baseFetch, ...credentials })) {
      if (f.type === 'file' && WANTED.test(f.path)) wanted.push({ path: f.path, size: f.lfs?.size ?? f.size });
    }
    if (!wanted.some((f) => f.path === 'config.json')) throw new Error(`${spec} has no config.json: not a transformers model repo`);
    const totalBytes = wanted.reduce((a, f) => a + f.size, 0);
    let seen = 0;
    const stream = opts.progress === undefined ? process.stderr : opts.progress;
    const bar = stream ? new ProgressBar({ total: Math.max(1, totalBytes), label: `downloading ${spec}`, stream, minIntervalMs: 5000 }) : null;
    // Count body bytes as they stream through fetch, for the bar.
    const countingFetch: typeof fetch = async (input, init) => {
      const res = await baseFetch(input, init);
      if (!bar || !res.body) return res;
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          seen = Math.min(totalBytes, seen + chunk.byteLength);
          bar.update(seen, { size: `${formatCount(seen)}B/${formatCount(totalBytes)}B` });
          ctl.enqueue(chunk);
        },
      });
      return new Response(res.body.pipeThrough(counter), { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    let snapshotDir = '';
    for (const f of wanted) {
      const pointer = await downloadFileToCacheDir({ repo: spec, path: f.path, revision, cacheDir, hubUrl, fetch: countingFetch, ...credentials });
      snapshotDir = dirname(pointer);
    }
    bar?.finish(totalBytes);
    // Record the ref so the next run (and Python tools) find this snapshot without the network.
    const commit = snapshotDir.split(/[\\/]/).pop()!;
    const refPath = join(repoCacheDir(cacheDir, spec), 'refs', revision);
    if (!/^[0-9a-f]{40}$/.test(revision)) {
      mkdirSync(dirname(refPath), { recursive: true });
      writeFileSync(refPath, commit);
    }
    const problem = modelFolderProblem(snapshotDir);
    if (problem) throw new Error(`downloaded ${spec} but the snapshot ${problem}`);
    return { dir: snapshotDir, source: 'download' };
  } catch (e) {
    if (isNetworkError(e)) throw new Error(offlineMessage(spec, cacheDir, `no network (${(e as Error).message})`));
    throw e;
  }
}
