# LFM2 written independently in PyTorch, as Hugging Face defines it: gated short convolutions and GQA attention with
# QK norm, SwiGLU, tied head. Loads a model folder of this project (F32 or BF16 safetensors). Used by the recall
# probe's replica (scripts/recall-probe-torch.py) and by the PyTorch peer of the benchmarks (bench/pytorch-peer.py).
# Needs PyTorch (Debian: apt-get install python3-torch; a BLAS such as libopenblas0-pthread makes FP32 ~25x faster).
import json, math, struct

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path, dtype=None):
    """Tensors of a safetensors file (F32 or BF16), converted to `dtype` when given."""
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == '__metadata__': continue
        a, b = t['data_offsets']
        raw = data[8 + n + a: 8 + n + b]
        if t['dtype'] == 'F32':
            v = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy())
        elif t['dtype'] == 'BF16':  # torch has no uint16: reinterpret int16 bits
            v = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16)
        else:
            raise SystemExit(f'{path}: {name} is {t["dtype"]}; only F32 and BF16 are read')
        v = v.reshape(t['shape'])
        out[name] = v.to(dtype) if dtype is not None else v
    return out


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Lfm2(torch.nn.Module):
    """forward(ids, cache=None): logits [B, T, V] (or of the last position only). With a cache (from new_cache), the
    tokens continue the cached sequences: conv layers keep their last L-1 gated inputs, attention its keys/values."""

    def __init__(self, folder, dtype=None, qk_norm=True):
        super().__init__()
        cfg = json.load(open(f'{folder}/config.json'))
        self.types = cfg['layer_types']
        self.heads, self.kv_heads = cfg['num_attention_heads'], cfg['num_key_value_heads']
        self.hidden = cfg['hidden_size']
        self.head_dim = self.hidden // self.heads
        self.theta, self.eps = cfg['rope_theta'], cfg['norm_eps']
        self.qk_norm = qk_norm
        weights = load_safetensors(f'{folder}/model.safetensors', dtype)
        # ParameterDict keys may not contain dots.
        self.p = torch.nn.ParameterDict({k.replace('.', '/'): torch.nn.Parameter(v) for k, v in weights.items()})
        # Optional LoRA (add_lora): name -> (A [r, in], B [out, r]), y += scale · x·Aᵀ·Bᵀ.
        self.lora = torch.nn.ParameterDict()
        self.lora_scale = 0.0

    def w(self, name):
        return self.p[name.replace('.', '/')]

    def add_lora(self, rank, alpha, kinds):
        """LoRA adapters on every linear weight whose name contains one of `kinds`; base weights frozen."""
        for p in self.p.values(): p.requires_grad_(False)
        for key, p in self.p.items():
            if p.dim() == 2 and 'embed' not in key and any(k in key for k in kinds):
                out_f, in_f = p.shape
                self.lora[key + '/A'] = torch.nn.Parameter((torch.randn(rank, in_f) / math.sqrt(in_f)).to(p.dtype))
                self.lora[key + '/B'] = torch.nn.Parameter(torch.zeros(out_f, rank, dtype=p.dtype))
        self.lora_scale = alpha / rank

    def linear(self, x, name):
        key = name.replace('.', '/')
        y = x @ self.p[key].T
        if key + '/A' in self.lora:
            y = y + (x @ self.lora[key + '/A'].T) @ self.lora[key + '/B'].T * self.lora_scale
        return y

    def rope(self, t, cos, sin):  # t [B, h, T, D]; rotate-half pairs (i, i + D/2)
        half = self.head_dim // 2
        a, b = t[..., :half], t[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

    def new_cache(self):
        return {'pos': 0, 'layers': [None] * len(self.types)}

    def forward(self, ids, cache=None, last_only=False, hidden_only=False):
        B, T = ids.shape
        past = cache['pos'] if cache else 0
        half = self.head_dim // 2
        inv_freq = self.theta ** (-torch.arange(half, dtype=torch.float64) / half)
        angle = torch.arange(past, past + T, dtype=torch.float64)[:, None] * inv_freq[None]  # [T, D/2]
        x = self.w('model.embed_tokens.weight')[ids]  # [B, T, C]
        cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
        for i, kind in enumerate(self.types):
            pre = f'model.layers.{i}.'
            h = rms_norm(x, self.w(pre + 'operator_norm.weight'), self.eps)
            if kind == 'conv':
                gate_b, gate_c, xs = self.linear(h, pre + 'conv.in_proj.weight').chunk(3, -1)  # [B, T, C] each
                bx = (gate_b * xs).transpose(1, 2)  # [B, C, T]
                kernel = self.w(pre + 'conv.conv.weight')  # [C, 1, L]
                L = kernel.shape[-1]
                prev = cache['layers'][i] if cache and cache['layers'][i] is not None else bx.new_zeros(B, self.hidden, L - 1)
                full = torch.cat([prev, bx], -1)  # [B, C, L-1+T]
                if cache is not None: cache['layers'][i] = full[..., -(L - 1):]
                conv = F.conv1d(full, kernel, groups=self.hidden).transpose(1, 2)  # [B, T, C]
                y = self.linear(gate_c * conv, pre + 'conv.out_proj.weight')
            else:
                q = self.linear(h, pre + 'self_attn.q_proj.weight').view(B, T, self.heads, self.head_dim)
                k = self.linear(h, pre + 'self_attn.k_proj.weight').view(B, T, self.kv_heads, self.head_dim)
                v = self.linear(h, pre + 'self_attn.v_proj.weight').view(B, T, self.kv_heads, self.head_dim)
                if self.qk_norm:
                    q = rms_norm(q, self.w(pre + 'self_attn.q_layernorm.weight'), self.eps)
                    k = rms_norm(k, self.w(pre + 'self_attn.k_layernorm.weight'), self.eps)
                q = self.rope(q.transpose(1, 2), cos, sin)  # [B, H, T, D]
                k = self.rope(k.transpose(1, 2), cos, sin)  # [B, KVH, T, D]
                v = v.transpose(1, 2)
                if cache is not None:
                    if cache['layers'][i] is not None:
                        k = torch.cat([cache['layers'][i][0], k], 2)
                        v = torch.cat([cache['layers'][i][1], v], 2)
                    cache['layers'][i] = (k, v)
                rep = self.heads // self.kv_heads
                k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
                scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # [B, H, T, past+T]
                if T > 1:
                    causal = torch.ones(T, past + T, dtype=torch.bool).triu(past + 1)
                    scores = scores.masked_fill(causal, float('-inf'))
                att = scores.softmax(-1) @ v
                y = self.linear(att.transpose(1, 2).reshape(B, T, self.hidden), pre + 'self_attn.out_proj.weight')
            x = x + y
            h = rms_norm(x, self.w(pre + 'ffn_norm.weight'), self.eps)
            ff = F.silu(self.linear(h, pre + 'feed_forward.w1.weight')) * self.linear(h, pre + 'feed_forward.w3.weight')
            x = x + self.linear(ff, pre + 'feed_forward.w2.weight')
        if cache is not None: cache['pos'] = past + T
        x = rms_norm(x, self.w('model.embedding_norm.weight'), self.eps)
        if last_only: x = x[:, -1:]
        if hidden_only: return x
        return x @ self.w('model.embed_tokens.weight').T
