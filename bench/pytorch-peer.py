#!/usr/bin/env python3
# PyTorch peer of the CPU benchmarks: the same random LFM2-350M folder (BF16 weights) run by PyTorch eager in BF16
# (oneDNN; AMX or AVX512_BF16 where the CPU has them), on the same workloads as bench/forward.ts and bench/train.ts:
#   prefill    one 512-token prompt, logits of the last position, median of --prefills; also in FP32 (the weights
#              widened), the peer of the engine's exact precision
#   decode     batch 1, 8 and 32 at context 512 (KV and conv caches), median step of --steps
#   train      LoRA r=8 on all linear kinds, 8 x 512, and full fine-tuning, 2 x 512: forward, cross-entropy on the
#              last 64 positions of each sequence, backward, AdamW; median of the steps after the first
# Prints one JSON object per row on stdout. bench/pytorch.ts runs it and prints the table.
#   python3 bench/pytorch-peer.py --model DIR [--threads 2] [--rows prefill,decode,train] [--quick]
import argparse, json, os, statistics, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
from torch_lfm2 import Lfm2  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--model', required=True)
ap.add_argument('--threads', type=int, default=2)
ap.add_argument('--rows', default='prefill,decode,train')
ap.add_argument('--prompt', type=int, default=512)
ap.add_argument('--prefills', type=int, default=5)
ap.add_argument('--steps', type=int, default=4)
ap.add_argument('--quick', action='store_true')
o = ap.parse_args()
torch.set_num_threads(o.threads)
torch.manual_seed(0)
rows = set(o.rows.split(','))
if o.quick: o.prompt, o.prefills, o.steps = 128, 2, 2


def emit(**row):
    print(json.dumps(row), flush=True)


def cpu_time():
    t = os.times()
    return t.user + t.system


def timed(f):
    w, c = time.perf_counter(), cpu_time()
    f()
    return time.perf_counter() - w, cpu_time() - c


def rates(ts, tokens):
    """Median wall seconds of (wall, cpu) timings and the tok/s columns of `tokens` per run."""
    wall, cpu = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
    return {'wall s': wall, 'tok/s': tokens / wall, 'tok/s cpu-normalised': tokens / (cpu / o.threads)}


base = dict(engine=f'PyTorch {torch.__version__} eager', weights='BF16', threads=o.threads)
model = Lfm2(o.model, torch.bfloat16)
V = model.w('model.embed_tokens.weight').shape[0]
g = torch.Generator().manual_seed(1)
prompt = torch.randint(10, V, (1, o.prompt), generator=g)

if rows & {'prefill', 'decode'}:
    with torch.no_grad():
        # The incremental path must equal a full forward (bf16 tolerance) before it is timed.
        short = prompt[:, :24]
        cache = model.new_cache()
        model(short[:, :20], cache)
        inc = model(short[:, 20:], cache)[0].float()
        full = model(short)[0, 20:].float()
        err = (inc - full).abs().max().item() / full.abs().max().item()
        if err > 0.05: raise SystemExit(f'PyTorch peer: incremental decode differs from a full forward (relative {err:.3g})')
        if 'prefill' in rows:
            for weights in ['BF16', 'FP32']:
                m = model if weights == 'BF16' else Lfm2(o.model, torch.float32)
                m(prompt, last_only=True)
                ts = [timed(lambda: m(prompt, last_only=True)) for _ in range(o.prefills)]
                emit(workload=f'prefill, one {o.prompt}-token prompt', **{**base, 'weights': weights}, tokens=o.prompt, **rates(ts, o.prompt))
                del m
        if 'decode' in rows:
            cache = model.new_cache()
            model(prompt, cache, last_only=True)
            for B in [1, 8] if o.quick else [1, 8, 32]:
                def fork():  # B copies of the prompt's state
                    c = {'pos': cache['pos'], 'layers': []}
                    for s in cache['layers']:
                        c['layers'].append(tuple(t.repeat(B, 1, 1, 1) for t in s) if isinstance(s, tuple) else s.repeat(B, 1, 1))
                    return c
                c = fork()
                tok = torch.randint(10, V, (B, 1), generator=g)
                model(tok, c, last_only=True)  # warm-up step
                ts = []
                for _ in range(o.steps):
                    tok = torch.randint(10, V, (B, 1), generator=g)
                    ts.append(timed(lambda: model(tok, c, last_only=True)))
                emit(workload=f'decode, batch {B} at context {o.prompt}', **base, tokens=B, **rates(ts, B))

if 'train' in rows:
    scored = 64
    for kind, batch in [('LoRA r=8 all modules', 8), ('full fine-tune', 2)]:
        if o.quick: batch = min(batch, 2)
        m = Lfm2(o.model, torch.bfloat16)
        if kind.startswith('LoRA'):
            m.add_lora(8, 16, ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'])
        params = [p for p in m.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-5)
        ids = torch.randint(10, V, (batch, o.prompt), generator=g)
        head = m.w('model.embed_tokens.weight')

        def step():
            h = m(ids[:, :-1], hidden_only=True)[:, -scored:]  # [B, 64, C]
            logits = (h @ head.T).float()
            loss = F.cross_entropy(logits.reshape(-1, V), ids[:, -scored:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        ts = [timed(step) for _ in range(2 if o.quick else 3)]
        tokens = batch * o.prompt
        emit(workload=f'train, {kind}, {batch}x{o.prompt}', **base, tokens=tokens, **{'first step s': ts[0][0]}, **rates(ts[1:], tokens))
        del m, opt
