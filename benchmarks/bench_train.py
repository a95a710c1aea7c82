"""Benchmark: the project's training loop (``train_phase``) vs a bare PyTorch loop.

Both arms train the same initial model (a fresh copy per run) on toy PAN-X for the same number
of steps with the same data order (``TaskBatches``), optimizer (AdamW, fused on CUDA), linear
warm-up schedule, gradient clipping and autocast dtype; neither evaluates (the task has no dev
set, so ``train_phase`` scores nothing).  Runs alternate per round.  Prints tokens/s of both and,
on a GPU with a known peak (``profiling.PEAK_TFLOPS``), model FLOPs utilisation and peak memory.

    python benchmarks/bench_train.py [--rounds 5] [--steps 40] [--size toy|base|large]
        [--device cuda --dtype bfloat16] [--compile]
"""

from __future__ import annotations

import argparse
import copy
import statistics

import harness as H

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="tiny-4x128", help="a toy model of the default config")
    ap.add_argument("--size", default="toy", choices=["toy", *H.SIZES], help="toy: --model's shape")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    cfg_file = H.toy_data(["panx"])

    import torch
    from transformers import AutoModel, get_linear_schedule_with_warmup

    from xstilts.core import paths
    from xstilts.core.config import hparam_defaults, load
    from xstilts.core.runtime import autocast
    from xstilts.stages import profiling as P
    from xstilts.stages.common import _to
    from xstilts.stages.models import XstiltsModel, load_tokenizer
    from xstilts.stages.train import TaskBatches, TaskData, set_seed, train_phase

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = load(cfg_file)
    tok = load_tokenizer(str(H.WORK / paths.tokenizer_dir("toy")))
    enc_cfg = H.encoder_config(cfg, args.model, args.size, tok)
    bound = cfg.bound("panx", "target", model=args.model)
    from xstilts.stages.data import read_features, task_with_labels

    d = str(H.WORK / paths.data_dir("toy", "panx"))
    task = task_with_labels(bound.task, d)
    train = read_features(paths.data_file(d, paths.TRAIN))
    td = TaskData(task, bound.family, train, [])
    torch.manual_seed(0)
    init = XstiltsModel(AutoModel.from_config(enc_cfg, add_pooling_layer=False))
    init.add_head(task, bound.family)
    hp = {**hparam_defaults(), **bound.hparams, "batch_size": args.batch_size, "max_steps": args.steps,
          "epochs": 1000, "save_every": 0, "eval_every": args.steps}
    seed, pad = 1, tok.pad_token_id
    last = {}

    def project():
        model = copy.deepcopy(init)
        last["project"] = train_phase(model, [td], hp, phase="target", seed=seed, device=device,
                                      dtype=args.dtype, pad_id=pad, log=lambda *a, **k: None,
                                      compile=args.compile)

    def bare():
        set_seed(seed)
        model = copy.deepcopy(init).to(device)
        if args.compile:
            model.encoder.compile()
        opt = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]),
                                fused=device.type == "cuda")
        sched = get_linear_schedule_with_warmup(opt, int(float(hp["warmup"]) * args.steps), args.steps)
        it = TaskBatches(len(train), args.batch_size, seed, task.name)
        model.train()
        for _ in range(args.steps):
            batch = _to(td.family.collate([train[j] for j in it.next()], pad), device)
            with autocast(device, args.dtype):
                logits = model(task.name, td.family, batch["input_ids"], batch["attention_mask"])
                loss = td.family.loss(logits.float(), batch["labels"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["grad_clip"]))
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = H.interleave({"project train_phase": project, "bare loop": bare}, args.rounds)
    cost = last["project"]
    name = P._device_name(device)
    n_params = sum(p.numel() for p in init.encoder.parameters())
    print(f"bench_train: {args.size if args.size != 'toy' else args.model} ({enc_cfg.num_hidden_layers}x"
          f"{enc_cfg.hidden_size}, "
          f"{n_params / 1e6:.1f}M encoder parameters), {args.steps} steps of batch {args.batch_size}, "
          f"device {name}, dtype {args.dtype}, compile {args.compile}, threads {torch.get_num_threads()}")
    for arm, ts in times.items():
        med = statistics.median(ts)
        line = H.describe(arm, ts) + f"  {cost['tokens'] / med:,.0f} tokens/s"
        u = P.mfu(cost["flops"], med, name, args.dtype)
        if u is not None:
            line += f"  MFU {u:.1%}"
        print(line)
    if device.type == "cuda":
        print(f"  peak memory {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB")
    r = H.ratio(times["bare loop"], times["project train_phase"])
    print(H.ratio_line("bench_train", r, "bare-loop time over train_phase time = train_phase speed relative "
                       "to the bare loop, medians; goal >= 0.95"))


if __name__ == "__main__":
    main()
