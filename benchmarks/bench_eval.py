"""Benchmark: evaluation through the project's prediction path vs a naive loop.

Both arms predict every test language of toy PAN-X (tagging) and XQuAD (QA windows) with the
same randomly initialised model (the larger default size, tiny-4x128; speed does not depend on
the weights) on one thread, as an ``evaluate`` job does.  The project's path is
``xstilts.stages.common.predict`` (length-bucketed batches by a token budget, inference mode,
logits kept on the device); the baseline is a Hugging Face-style loop: batches of 64 in dataset
order, each padded to the task's max length, under ``torch.no_grad``, moving each batch's
predictions to the host.  The two arms' predictions are checked to agree.

    python benchmarks/bench_eval.py [--rounds 5] [--model tiny-4x128] [--threads 1]
"""

from __future__ import annotations

import argparse

import harness as H


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", default="tiny-4x128")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--targets", default="panx,xquad")
    ap.add_argument("--size", default="toy", choices=["toy", *H.SIZES], help="toy: --model's shape")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    targets = args.targets.split(",")
    cfg_file = H.toy_data(targets)

    import numpy as np
    import torch

    from xstilts.core import paths
    from xstilts.core.config import load
    from xstilts.stages.common import predict
    from xstilts.stages.data import read_features, task_with_labels
    from xstilts.core.runtime import autocast
    from xstilts.stages import profiling as P
    from xstilts.stages.models import XstiltsModel, load_tokenizer

    torch.set_num_threads(args.threads)
    cfg = load(cfg_file)
    tok = load_tokenizer(str(H.WORK / paths.tokenizer_dir("toy")))
    torch.manual_seed(0)
    from transformers import AutoModel

    device = torch.device(args.device)
    enc_cfg = H.encoder_config(cfg, args.model, args.size, tok)
    net = XstiltsModel(AutoModel.from_config(enc_cfg, add_pooling_layer=False))
    work = []  # (task, family, features, max_length)
    for t in targets:
        bound = cfg.bound(t, "target", model=args.model)
        d = str(H.WORK / paths.data_dir("toy", t))
        task = task_with_labels(bound.task, d)
        net.add_head(task, bound.family)
        for lang in task.eval_languages(cfg.toy_languages):
            work.append((task, bound.family, read_features(paths.data_test(d, lang)), cfg.max_length(t)))
    net.eval().to(device)
    n_feats = sum(len(w[2]) for w in work)
    real = sum(len(s) for w in work for f in w[2] for s in f["seqs"])
    print(f"bench_eval: {args.model}, {len(work)} test sets of {','.join(targets)}, {n_feats} features, "
          f"{real} tokens (mean {real / n_feats:.1f}), threads={torch.get_num_threads()}, "
          f"{args.size if args.size != 'toy' else ''} {enc_cfg.num_hidden_layers}x{enc_cfg.hidden_size} on "
          f"{P._device_name(device)}, {args.dtype}")

    def naive_collate(family, feats, max_len):
        batch = family.collate(feats, tok.pad_token_id)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        pad = max_len - ids.shape[-1]
        if pad > 0:
            ids = torch.nn.functional.pad(ids, (0, pad), value=tok.pad_token_id)
            mask = torch.nn.functional.pad(mask, (0, pad), value=0)
        return ids.to(device), mask.to(device)

    def naive():
        out = []
        with torch.no_grad():
            for task, family, feats, max_len in work:
                preds = []
                for i in range(0, len(feats), 64):
                    ids, mask = naive_collate(family, feats[i:i + 64], max_len)
                    with autocast(device, args.dtype):
                        logits = net(task.name, family, ids, mask)
                    preds.extend(family.predict(logits.float()))
                out.append(preds)
        return out

    def project():
        return [predict(net, task, family, feats, None, device, args.dtype, tok.pad_token_id)
                for task, family, feats, _ in work]

    tol, agree = (1e-4 if args.dtype == "float32" else 5e-2), []
    # the two arms agree (tags; QA start/end logits over each window's own tokens)
    for (task, family, feats, _), a, b in zip(work, naive(), project()):
        for f, pa, pb in zip(feats, a, b):
            n = len(f["seqs"][0])
            if family.name == "qa":
                agree.append(np.mean(np.isclose(np.asarray(pa)[:, :n], np.asarray(pb)[:, :n], atol=tol)))
            else:
                agree.append(np.mean(np.asarray(pa[:n]) == np.asarray(pb[:n])))
    rate = float(np.mean(agree))
    # float32: identical up to float error; bf16: padding changes the rounding of a few values
    assert rate >= (1.0 if args.dtype == "float32" else 0.99), f"the arms agree on {rate:.2%} of tokens"
    print(f"  predictions of the two arms agree ({rate:.2%} of tokens' tags / logits)")

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = H.interleave({"project predict": project, "naive padded loop": naive}, args.rounds)
    # useful FLOPs: the forward of every real (unpadded) sequence
    lens = [len(s) for w in work for f in w[2] for s in f["seqs"]]
    flops = P.analytic_forward_flops(enc_cfg, lens, 1)
    name = P._device_name(device)
    for arm, ts in times.items():
        med = np.median(ts)
        u = P.mfu(flops, med, name, args.dtype)
        print(H.describe(arm, ts) + f"  {real / med:,.0f} tokens/s" + (f"  MFU {u:.1%}" if u is not None else ""))
    if device.type == "cuda":
        print(f"  peak memory {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB")
    r = H.ratio(times["naive padded loop"], times["project predict"])
    print(f"  project: {n_feats / np.median(times['project predict']):.0f} features/s, "
          f"naive: {n_feats / np.median(times['naive padded loop']):.0f} features/s")
    print(H.ratio_line("bench_eval", r, "naive loop time over project predict time, medians of "
                       f"{args.rounds} interleaved rounds; goal >= 2"))


if __name__ == "__main__":
    main()
