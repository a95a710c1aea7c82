"""Benchmark: batch-1 latency vs batched throughput of a small XLM-R encoder.

The baseline is batch-1 inference measured in the same run: it prints examples/s at batch 1
(= 1000 / p50 latency) and, for each larger batch, its throughput and the ratio to that baseline,
plus the achieved GFLOP/s (counted FLOPs with eager attention). Also prints the flop-counter vs
analytic relative error and the sdpa-vs-eager count difference.

    /tmp/venv/bin/python benchmarks/bench_profiling.py [--threads 1] [--seq-len 128] [--hidden 256]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import XLMRobertaConfig, XLMRobertaModel

from xstilts.stages import profiling as P


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch-sizes", default="8,32")
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=1000, hidden_size=args.hidden, num_hidden_layers=args.layers,
                           num_attention_heads=max(1, args.hidden // 64),
                           intermediate_size=4 * args.hidden,
                           max_position_embeddings=args.seq_len + 2)
    model = XLMRobertaModel(cfg).eval().to(args.device)

    def make_inputs(bs: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(bs)
        ids = torch.randint(5, cfg.vocab_size, (bs, args.seq_len), generator=g)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    dev = torch.device(args.device)
    inputs1 = {k: v.to(dev) for k, v in make_inputs(1).items()}
    counted = P.counted_forward_flops(model, inputs1)
    analytic = P.analytic_forward_flops(cfg, args.seq_len, head_params=cfg.hidden_size ** 2)
    sdpa = P.counted_forward_flops(model, inputs1, eager=False)
    print(f"model d={cfg.hidden_size} L={cfg.num_hidden_layers} T={args.seq_len} "
          f"device={args.device} dtype={args.dtype} threads={torch.get_num_threads()}")
    print(f"flops/example counted(eager)={counted:.4g} analytic={analytic:.4g} "
          f"rel_err={(counted - analytic) / analytic:+.2e}; counted(sdpa)={sdpa:.4g} "
          f"({(sdpa - counted) / counted:+.1%} vs eager)")

    def forward1():
        with torch.inference_mode(), P.autocast_context(dev, args.dtype):
            model(**inputs1)

    t0 = time.perf_counter()
    lat = P.measure_latency(forward1, warmup=5, repeats=50, device=dev)
    base = 1000.0 / lat["p50"]
    print(f"baseline batch 1: p50={lat['p50']:.3f} ms p90={lat['p90']:.3f} p99={lat['p99']:.3f} "
          f"-> {base:.1f} examples/s, {counted * base / 1e9:.2f} GFLOP/s")
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    tp = P.measure_throughput(model, make_inputs, sizes, device=dev, dtype=args.dtype,
                              min_time_s=args.min_time)
    for bs in sizes:
        row = tp["per_batch"][str(bs)]
        if row.get("oom"):
            print(f"batch {bs:>4}: out of memory")
            continue
        eps = row["examples_per_s"]
        print(f"batch {bs:>4}: {eps:9.1f} examples/s  ratio vs batch-1 latency baseline "
              f"{eps / base:6.2f}x  {counted * eps / 1e9:.2f} GFLOP/s")
    print(f"best batch {tp['best_batch']}; bench wall {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
