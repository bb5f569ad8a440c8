#!/usr/bin/python3
"""Writes models/families: tiny versions of the Transformer families normrt runs, exported with
PyTorch's ONNX exporter at opset 17 (the newest torch 1.13 writes; GroupNorm then comes out as
Reshape-InstanceNormalization-Reshape-Mul-Add), seeded random weights, with inputs and
ONNX Runtime 1.30's outputs (onnxruntime-node from perf/peers) as data_0:

  bert_tiny      BERT-style encoder: embeddings (word + position + type) + LayerNorm, post-LN layers
                 of self-attention with an additive padding mask and a GELU FFN; input_ids, attention_mask.
  gpt2_tiny      GPT-2-style decoder: pre-LN layers, causal self-attention (masked with a lower-
                 triangular buffer), GELU (tanh form) FFN, final LayerNorm, tied LM head.
  vit_tiny       ViT-style image encoder: Conv patch embedding, class token, position embedding,
                 pre-LN layers, final LayerNorm on the class token.
  wav2vec2_tiny  wav2vec2-style audio encoder: Conv1d feature extractor with GroupNorm on the first
                 layer, GELU, feature projection, positional Conv1d, Transformer layers.
  unet_block     diffusion-style UNet block: Conv2d + GroupNorm + SiLU residual block, spatial
                 self-attention, upsampling (Resize nearest) and a transposed conv.

Full-size versions come from the same classes with larger settings (perf/models_peers.py);
only the tiny ones are committed.  /usr/bin/python3 models/families/generate.py
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

OUT = os.path.dirname(os.path.abspath(__file__))


class Attention(nn.Module):
    def __init__(self, d, heads, causal=False, max_len=0):
        super().__init__()
        self.h, self.dk = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.causal = causal
        if causal:
            self.register_buffer("tril", torch.tril(torch.ones(max_len, max_len)).view(1, 1, max_len, max_len))

    def forward(self, x, bias=None):
        b, s, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.view(b, s, self.h, self.dk).transpose(1, 2)
        k = k.view(b, s, self.h, self.dk).transpose(1, 2)
        v = v.view(b, s, self.h, self.dk).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.dk)
        if bias is not None:
            att = att + bias
        if self.causal:
            att = att.masked_fill(self.tril[:, :, :s, :s] == 0, float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, s, d)
        return self.out(y)


class Block(nn.Module):
    def __init__(self, d, heads, ffn, pre_ln, causal=False, max_len=0, gelu="none"):
        super().__init__()
        self.attn = Attention(d, heads, causal, max_len)
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.pre_ln, self.gelu = pre_ln, gelu

    def ffn(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate=self.gelu))

    def forward(self, x, bias=None):
        if self.pre_ln:
            x = x + self.attn(self.ln1(x), bias)
            return x + self.ffn(self.ln2(x))
        x = self.ln1(x + self.attn(x, bias))
        return self.ln2(x + self.ffn(x))


class Bert(nn.Module):
    def __init__(self, vocab=1000, d=64, heads=4, layers=2, ffn=256, max_len=128):
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(vocab, d), nn.Embedding(max_len, d), nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList([Block(d, heads, ffn, pre_ln=False) for _ in range(layers)])

    def forward(self, input_ids, attention_mask):
        s = input_ids.shape[1]
        pos = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.token_type(torch.zeros_like(input_ids)))
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x


class Gpt2(nn.Module):
    def __init__(self, vocab=1000, d=64, heads=4, layers=2, max_len=128):
        super().__init__()
        self.word, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_len, d)
        self.layers = nn.ModuleList([Block(d, heads, 4 * d, pre_ln=True, causal=True, max_len=max_len, gelu="tanh") for _ in range(layers)])
        self.ln = nn.LayerNorm(d)

    def forward(self, input_ids):
        s = input_ids.shape[1]
        x = self.word(input_ids) + self.pos(torch.arange(s, device=input_ids.device).unsqueeze(0))
        for layer in self.layers:
            x = layer(x)
        return torch.matmul(self.ln(x), self.word.weight.t())


class Vit(nn.Module):
    def __init__(self, image=32, patch=8, d=64, heads=4, layers=2):
        super().__init__()
        n = (image // patch) ** 2
        self.patch = nn.Conv2d(3, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n + 1, d) * 0.02)
        self.layers = nn.ModuleList([Block(d, heads, 4 * d, pre_ln=True) for _ in range(layers)])
        self.ln = nn.LayerNorm(d, eps=1e-6)

    def forward(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.ln(x)[:, 0]


class Wav2Vec2(nn.Module):
    """wav2vec2's feature encoder and Transformer. The defaults are the tiny committed model (three
    convolutions, 800 frames per second of audio); wav2vec2-base itself has seven (kernels 10,3,3,3,
    3,2,2, strides 5,2,2,2,2,2,2: 49 frames per second) and a positional convolution of kernel 128 in
    16 groups, whose even kernel gives one frame too many that the model drops."""

    def __init__(self, d=64, heads=4, layers=2, conv=32, kernels=(10, 3, 2), strides=(5, 2, 2), pos_kernel=7, pos_groups=4):
        super().__init__()
        widths = [1] + [conv] * len(kernels)
        self.convs = nn.ModuleList([nn.Conv1d(widths[i], conv, k, s, bias=False) for i, (k, s) in enumerate(zip(kernels, strides))])
        self.gn = nn.GroupNorm(conv, conv)
        self.proj_ln = nn.LayerNorm(conv)
        self.proj = nn.Linear(conv, d)
        self.pos_conv = nn.Conv1d(d, d, pos_kernel, padding=pos_kernel // 2, groups=pos_groups)
        self.pos_trim = pos_kernel % 2 == 0
        self.ln = nn.LayerNorm(d)
        self.layers = nn.ModuleList([Block(d, heads, 4 * d, pre_ln=False) for _ in range(layers)])

    def forward(self, audio):
        x = audio[:, None, :]
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i == 0:
                x = self.gn(x)
            x = F.gelu(x)
        x = self.proj(self.proj_ln(x.transpose(1, 2)))
        pos = self.pos_conv(x.transpose(1, 2))
        if self.pos_trim:
            pos = pos[:, :, :-1]
        x = x + F.gelu(pos).transpose(1, 2)
        x = self.ln(x)
        for layer in self.layers:
            x = layer(x)
        return x


class UnetBlock(nn.Module):
    def __init__(self, c=32, groups=8, heads=4):
        super().__init__()
        self.gn1, self.conv1 = nn.GroupNorm(groups, c), nn.Conv2d(c, c, 3, padding=1)
        self.gn2, self.conv2 = nn.GroupNorm(groups, c), nn.Conv2d(c, c, 3, padding=1)
        self.gn_attn = nn.GroupNorm(groups, c)
        self.attn = Attention(c, heads)
        self.up = nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1)
        self.out = nn.Conv2d(c // 2, c // 2, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.gn1(x)))
        h = self.conv2(F.silu(self.gn2(h)))
        x = x + h
        b, c, hh, ww = x.shape
        t = self.gn_attn(x).flatten(2).transpose(1, 2)
        x = x + self.attn(t).transpose(1, 2).reshape(b, c, hh, ww)
        y = self.up(x) + F.interpolate(x[:, : c // 2], scale_factor=2.0, mode="nearest")
        return self.out(F.silu(y))


def export(name, model, inputs, input_names, output_names, dynamic_axes, opset):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "data_0"))
    model.eval()
    path = os.path.join(folder, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(model, tuple(inputs), path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=opset, do_constant_folding=True)
    m = onnx.load(path)
    m.producer_name = "pytorch " + torch.__version__ + " (normrt models/families)"
    onnx.save(m, path)
    arrays = [t.numpy() for t in inputs]
    for i, (n, a) in enumerate(zip(input_names, arrays)):
        onnx.save_tensor(numpy_helper.from_array(a, n), os.path.join(folder, "data_0", f"input_{i}.pb"))
    types = {np.float32: "float32", np.int64: "int64", np.int32: "int32"}
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(fin, "w") as f:
            json.dump([{"name": n, "type": types[a.dtype.type], "dims": list(a.shape), "data": a.ravel().tolist()} for n, a in zip(input_names, arrays)], f)
        subprocess.run(["node", os.path.join(OUT, "..", "ort_cases", "ort_run.js"), path, fin, fout], check=True)
        with open(fout) as f:
            results = json.load(f)
    for i, r in enumerate(results):
        a = np.array(r["data"], dtype=np.float32).reshape(r["dims"])
        onnx.save_tensor(numpy_helper.from_array(a, r["name"]), os.path.join(folder, "data_0", f"output_{i}.pb"))
    size = os.path.getsize(path)
    print(f"{name}: {size / 1e6:.2f} MB, outputs " + ", ".join(f"{r['name']} {r['dims']}" for r in results))


def main():
    torch.manual_seed(20261128)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, 1000, (2, 24), generator=g)
    mask = torch.ones(2, 24, dtype=torch.int64)
    mask[1, 17:] = 0
    export("bert_tiny", Bert(), [ids, mask], ["input_ids", "attention_mask"], ["last_hidden_state"],
           {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}, 17)
    export("gpt2_tiny", Gpt2(), [torch.randint(0, 1000, (1, 20), generator=g)], ["input_ids"], ["logits"],
           {"input_ids": {0: "batch", 1: "seq"}}, 17)
    export("vit_tiny", Vit(), [torch.randn(2, 3, 32, 32, generator=g)], ["pixel_values"], ["pooled"], {"pixel_values": {0: "batch"}}, 17)
    export("wav2vec2_tiny", Wav2Vec2(), [torch.randn(1, 1600, generator=g)], ["audio"], ["hidden_states"], {"audio": {0: "batch", 1: "samples"}}, 17)
    export("unet_block", UnetBlock(), [torch.randn(1, 32, 16, 16, generator=g)], ["sample"], ["out"], {"sample": {0: "batch"}}, 17)


if __name__ == "__main__":
    main()
