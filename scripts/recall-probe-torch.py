#!/usr/bin/env python3
# The recall probe (scripts/recall-probe.ts) on an independent LFM2 written in PyTorch: the same model folder (F32
# safetensors), the same sequences and batch order (mulberry32 ported bit for bit), the same loss (mean -log p of the
# scored answers), AdamW (0.9, 0.999, eps 1e-8, no weight decay, constant lr) and global-norm clipping at 1.0 as the
# engine's defaults. Its curve says whether a learning result is the engine's or the model family's: the held-out
# numbers at the first evaluations agree with the engine's to the printed digits, and later ones drift apart only as
# rounding orders do.
# The model is scripts/torch_lfm2.py; it needs PyTorch (Debian: apt-get install python3-torch, with libopenblas0-pthread).
#
#   python3 scripts/recall-probe-torch.py --model runs/models/probe --pairs 4 --filler 0 --steps 6000
import argparse, math, os, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_lfm2 import Lfm2  # noqa: E402

ap = argparse.ArgumentParser(description='recall probe on a PyTorch LFM2')
ap.add_argument('--model', required=True)
ap.add_argument('--pairs', type=int, default=1)
ap.add_argument('--filler', type=int, default=6)
ap.add_argument('--steps', type=int, default=2000)
ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--batch', type=int, default=16)
ap.add_argument('--eval-every', type=int, default=100)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--seed', type=int, default=3)
ap.add_argument('--queries', type=int, default=1)
ap.add_argument('--value-first', action='store_true', help='each pair written value first, as recall-probe.ts --value-first')
ap.add_argument('--no-qk-norm', action='store_true', help='ablation: attention without the per-head QK RMSNorm')
o = ap.parse_args()
if not 1 <= o.pairs <= 500: ap.error('--pairs must be 1 to 500 (the key range)')
torch.set_num_threads(o.threads)


MASK32 = 0xFFFFFFFF


def mulberry32(seed):
    """The project's mulberry32 (lib/engine/init-weights.ts), so both probes draw the same sequences."""
    state = seed & MASK32

    def imul(a, b):
        return (a * b) & MASK32

    def next_float():
        nonlocal state
        state = (state + 0x6D2B79F5) & MASK32
        t = imul(state ^ (state >> 15), state | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & MASK32
        return ((t ^ (t >> 14)) & MASK32) / 4294967296

    return next_float


def sequence(r, queries):
    """As recall-probe.ts: BOS, (key, value) pairs with filler, then questions; returns ids and answer positions."""
    keys = []
    while len(keys) < o.pairs:
        k = 100 + math.floor(r() * 500)
        if k not in keys: keys.append(k)
    values = [600 + math.floor(r() * 500) for _ in keys]
    ids = [1]

    def fill():
        for _ in range(o.filler): ids.append(1200 + math.floor(r() * 800))

    for k, v in zip(keys, values):
        fill()
        ids += [v, k] if o.value_first else [k, v]
    fill()
    answers = []
    for _ in range(queries):
        q = math.floor(r() * o.pairs)
        ids += [keys[q], values[q]]
        answers.append(len(ids) - 1)
    return ids, answers


model = Lfm2(o.model, torch.float32, qk_norm=not o.no_qk_norm)  # FP32 whatever the file holds, as the engine's probe
test = [sequence(mulberry32(1_000_000 + i), 1) for i in range(200)]
test_ids = torch.tensor([t[0] for t in test])
test_at = torch.tensor([t[1][0] for t in test])
rows = torch.arange(len(test))
opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
rnd = mulberry32(o.seed)
t0 = time.time()
for step in range(o.steps + 1):
    if step % o.eval_every == 0 or step == o.steps:
        with torch.no_grad():
            logp = model(test_ids).log_softmax(-1)
            p = logp[rows, test_at - 1, test_ids[rows, test_at]].exp()
        print(f'step {step}: held-out {100 * (p > 0.5).float().mean():.1f}% (mean p {p.mean():.3f})  ({time.time() - t0:.0f} s)', flush=True)
    if step == o.steps: break
    batch = [sequence(rnd, o.queries) for _ in range(o.batch)]
    ids = torch.tensor([b[0] for b in batch])
    logp = model(ids).log_softmax(-1)
    picked = [logp[j, a - 1, ids[j, a]] for j, (_, answers) in enumerate(batch) for a in answers]
    loss = -torch.stack(picked).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
