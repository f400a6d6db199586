#!/usr/bin/env python3
# The recall probe (scripts/recall-probe.ts) on an independent LFM2 written in PyTorch: the same model folder (F32
# safetensors), the same sequences and batch order (mulberry32 ported bit for bit), the same loss (mean -log p of the
# scored answers), AdamW (0.9, 0.999, eps 1e-8, no weight decay, constant lr) and global-norm clipping at 1.0 as the
# engine's defaults. Its curve says whether a learning result is the engine's or the model family's: the held-out
# numbers at the first evaluations agree with the engine's to the printed digits, and later ones drift apart only as
# rounding orders do.
# Needs PyTorch (Debian: apt-get install python3-torch; a BLAS such as libopenblas0-pthread makes it ~25x faster).
#
#   python3 scripts/recall-probe-torch.py --model runs/models/probe --pairs 4 --filler 0 --steps 6000
import argparse, json, math, struct, time

import numpy as np
import torch
import torch.nn.functional as F

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


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == '__metadata__': continue
        if t['dtype'] != 'F32': raise SystemExit(f'{path}: {name} is {t["dtype"]}; the probe needs F32 weights (init-model --dtype f32)')
        a, b = t['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + a: 8 + n + b], dtype=np.float32).copy()).reshape(t['shape'])
    return out


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Lfm2(torch.nn.Module):
    """LFM2 as Hugging Face defines it: gated short convolutions and GQA attention with QK norm, SwiGLU, tied head."""

    def __init__(self, folder):
        super().__init__()
        cfg = json.load(open(f'{folder}/config.json'))
        self.types = cfg['layer_types']
        self.heads, self.kv_heads = cfg['num_attention_heads'], cfg['num_key_value_heads']
        self.hidden = cfg['hidden_size']
        self.head_dim = self.hidden // self.heads
        self.theta, self.eps = cfg['rope_theta'], cfg['norm_eps']
        weights = load_safetensors(f'{folder}/model.safetensors')
        # ParameterDict keys may not contain dots.
        self.p = torch.nn.ParameterDict({k.replace('.', '/'): torch.nn.Parameter(v) for k, v in weights.items()})

    def w(self, name):
        return self.p[name.replace('.', '/')]

    def rope(self, t, cos, sin):  # t [B, h, T, D]; rotate-half pairs (i, i + D/2)
        half = self.head_dim // 2
        a, b = t[..., :half], t[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

    def forward(self, ids):  # ids [B, T] -> logits [B, T, V]
        B, T = ids.shape
        half = self.head_dim // 2
        inv_freq = self.theta ** (-torch.arange(half, dtype=torch.float64) / half)
        angle = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None]  # [T, D/2]
        cos, sin = angle.cos().float(), angle.sin().float()
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = self.w('model.embed_tokens.weight')[ids]  # [B, T, C]
        for i, kind in enumerate(self.types):
            pre = f'model.layers.{i}.'
            h = rms_norm(x, self.w(pre + 'operator_norm.weight'), self.eps)
            if kind == 'conv':
                bcx = h @ self.w(pre + 'conv.in_proj.weight').T  # [B, T, 3C]
                gate_b, gate_c, xs = bcx.chunk(3, -1)
                bx = (gate_b * xs).transpose(1, 2)  # [B, C, T]
                kernel = self.w(pre + 'conv.conv.weight')  # [C, 1, L]
                conv = F.conv1d(F.pad(bx, (kernel.shape[-1] - 1, 0)), kernel, groups=self.hidden).transpose(1, 2)
                y = (gate_c * conv) @ self.w(pre + 'conv.out_proj.weight').T
            else:
                q = (h @ self.w(pre + 'self_attn.q_proj.weight').T).view(B, T, self.heads, self.head_dim)
                k = (h @ self.w(pre + 'self_attn.k_proj.weight').T).view(B, T, self.kv_heads, self.head_dim)
                v = (h @ self.w(pre + 'self_attn.v_proj.weight').T).view(B, T, self.kv_heads, self.head_dim)
                if not o.no_qk_norm:
                    q = rms_norm(q, self.w(pre + 'self_attn.q_layernorm.weight'), self.eps)
                    k = rms_norm(k, self.w(pre + 'self_attn.k_layernorm.weight'), self.eps)
                q = self.rope(q.transpose(1, 2), cos, sin)  # [B, H, T, D]
                k = self.rope(k.transpose(1, 2), cos, sin).repeat_interleave(self.heads // self.kv_heads, 1)
                v = v.transpose(1, 2).repeat_interleave(self.heads // self.kv_heads, 1)
                scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # [B, H, T, T]
                att = scores.masked_fill(causal, float('-inf')).softmax(-1) @ v
                y = att.transpose(1, 2).reshape(B, T, self.hidden) @ self.w(pre + 'self_attn.out_proj.weight').T
            x = x + y
            h = rms_norm(x, self.w(pre + 'ffn_norm.weight'), self.eps)
            ff = F.silu(h @ self.w(pre + 'feed_forward.w1.weight').T) * (h @ self.w(pre + 'feed_forward.w3.weight').T)
            x = x + ff @ self.w(pre + 'feed_forward.w2.weight').T
        x = rms_norm(x, self.w('model.embedding_norm.weight'), self.eps)
        return x @ self.w('model.embed_tokens.weight').T


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


model = Lfm2(o.model)
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
