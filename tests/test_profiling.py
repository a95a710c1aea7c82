"""Tests for xstilts.stages.profiling: FLOPs vs analytic, params, latency, throughput, memory, traces,
training cost accounting. Tiny XLM-R models on CPU, fast (a few seconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from transformers import XLMRobertaConfig, XLMRobertaModel

from xstilts.stages import profiling as P

COST_KEYS = {"phase", "steps", "examples", "tokens", "flops", "wall_s", "device", "device_hours",
             "peak_mem_mb", "tokens_per_s", "best_step", "stopped_early"}


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_config(**kw) -> XLMRobertaConfig:
    base = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=256, max_position_embeddings=130)
    base.update(kw)
    return XLMRobertaConfig(**base)


def tiny_model(**kw) -> XLMRobertaModel:
    torch.manual_seed(0)
    return XLMRobertaModel(tiny_config(**kw)).eval()


def batch(b: int, t: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (b, t), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class MultipleChoice(nn.Module):
    """Encoder + a 1-logit scorer on CLS; input_ids of shape (batch, choices, T)."""

    def __init__(self, encoder: XLMRobertaModel):
        super().__init__()
        self.encoder = encoder
        self.scorer = nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids, attention_mask):
        b, c, t = input_ids.shape
        out = self.encoder(input_ids=input_ids.reshape(b * c, t),
                           attention_mask=attention_mask.reshape(b * c, t))
        return self.scorer(out.last_hidden_state[:, 0]).view(b, c)


# ---------------------------------------------------------------- parameters
def test_count_params_hand_computed():
    m = tiny_model()
    d, f, L, V, maxpos = 64, 256, 2, 1000, 130
    type_vocab = 2  # XLMRobertaConfig default
    embedding = V * d + maxpos * d + type_vocab * d  # = 72448
    layer = (4 * (d * d + d)      # Q, K, V, O with biases
             + (d * f + f)        # intermediate
             + (f * d + d)        # output
             + 2 * 2 * d)         # two LayerNorms
    non_embedding = 2 * d + L * layer + (d * d + d)  # embedding LayerNorm, layers, pooler
    assert embedding == 72448 and non_embedding == 104256
    assert P.count_params(m) == {"total": 176704, "embedding": 72448, "non_embedding": 104256}


# ---------------------------------------------------------------- FLOPs
def test_analytic_formula_by_hand():
    cfg = tiny_config()
    # P_tok = L(4d^2 + 2df) = 2(4*4096 + 2*64*256) = 98304
    # T=16, 3 sequences: linear 2*98304*48 = 9437184 ; attention 3*4*2*256*64 = 393216
    # head 4096 weights on CLS: 2*4096*3 = 24576
    assert P.analytic_forward_flops(cfg, 16, batch=3, head_params=4096) == 9437184 + 393216 + 24576
    # per-token head, ragged lengths [16, 8]
    lin = 2 * 98304 * 24
    att = 4 * 2 * 64 * (16 * 16 + 8 * 8)
    head = 2 * 10 * 24
    assert P.analytic_forward_flops(cfg, [16, 8], head_params=10, head_per_token=True) == lin + att + head
    assert P.analytic_training_flops(cfg, 16, batch=3) == 3 * P.analytic_forward_flops(cfg, 16, batch=3)
    # dict configs work too
    d = {k: getattr(cfg, k) for k in P._CFG_KEYS}
    assert P.analytic_forward_flops(d, 16, batch=3) == P.analytic_forward_flops(cfg, 16, batch=3)


SHAPES = [
    dict(),  # d=64, L=2, h=4, f=256
    dict(hidden_size=96, num_hidden_layers=3, num_attention_heads=6, intermediate_size=192),
]


@pytest.mark.parametrize("shape", SHAPES, ids=["d64L2", "d96L3"])
@pytest.mark.parametrize("seq_len", [16, 96])
def test_counted_flops_match_analytic(shape, seq_len):
    m = tiny_model(**shape)
    d = m.config.hidden_size
    counted = P.counted_forward_flops(m, batch(2, seq_len))
    analytic = P.analytic_forward_flops(m.config, seq_len, batch=2, head_params=d * d)  # + pooler
    assert abs(counted - analytic) / analytic < 0.02
    # in fact (weights only, eager attention) they are identical
    assert counted == analytic


def test_sdpa_count_misses_attention_and_setting_is_restored():
    m = tiny_model()
    assert m.config._attn_implementation == "sdpa"
    inputs = batch(2, 32)
    eager = P.counted_forward_flops(m, inputs)
    assert m.config._attn_implementation == "sdpa"  # restored after the eager count
    sdpa = P.counted_forward_flops(m, inputs, eager=False)
    attention = 2 * 4 * 2 * 32 * 32 * 64  # N * 4 L T^2 d
    # torch 2.13 CPU: FlopCounterMode has no formula for the fused sdpa kernel -> exactly the
    # attention matmuls are missing (13647872 vs 12599296). Should torch learn to count it, the
    # two counts agree and the eager switch is merely harmless.
    assert sdpa == eager or eager - sdpa == attention
    assert eager == P.analytic_forward_flops(m.config, 32, batch=2, head_params=64 * 64)
    # the two kernels compute the same thing
    with torch.no_grad():
        a = m(**inputs).last_hidden_state
        with P.eager_attention(m):
            assert m.config._attn_implementation == "eager"
            b = m(**inputs).last_hidden_state
    assert m.config._attn_implementation == "sdpa"
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_multiple_choice_wrapper_counts_each_choice_as_a_sequence():
    m = MultipleChoice(tiny_model()).eval()
    b, c, t = 2, 3, 24
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 1000, (b, c, t), generator=g)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    counted = P.counted_forward_flops(m, inputs)
    head = 64 * 64 + 64 * 1  # pooler + scorer, once per sequence
    assert P._head_linear_params(m, P.encoder_config(m)) == head
    assert counted == P.analytic_forward_flops(P.encoder_config(m), t, batch=b * c, head_params=head)


# ---------------------------------------------------------------- latency
def test_latency_percentiles_with_deterministic_clock():
    # A fake clock that the fake workload advances by known durations: the timings are exact.
    durations_s = [0.001 * k for k in (7, 3, 9, 1, 5, 2, 8, 4, 6, 10, 30, 2)]
    state = {"now": 100.0, "calls": 0}
    warmup = 3

    def fn():
        i = state["calls"]
        state["calls"] += 1
        state["now"] += 1.0 if i < warmup else durations_s[i - warmup]

    res = P.measure_latency(fn, warmup=warmup, repeats=len(durations_s), clock=lambda: state["now"])
    assert state["calls"] == warmup + len(durations_s)
    expected = np.array(durations_s) * 1000.0
    np.testing.assert_allclose(res["samples_ms"], expected, rtol=1e-9)
    p50, p90, p99 = np.percentile(expected, [50, 90, 99])
    assert res["p50"] == pytest.approx(p50) == 5.5
    assert res["p90"] == pytest.approx(p90)
    assert res["p99"] == pytest.approx(p99)
    assert res["mean"] == pytest.approx(expected.mean())
    assert res["min"] == pytest.approx(1.0) and res["max"] == pytest.approx(30.0)
    assert res["p50"] <= res["p90"] <= res["p99"] <= res["max"]


def test_latency_real_clock_is_consistent():
    m = tiny_model()
    inputs = batch(1, 32)

    def fn():
        with torch.inference_mode():
            m(**inputs)

    res = P.measure_latency(fn, warmup=2, repeats=15)
    s = np.asarray(res["samples_ms"])
    assert res["n"] == len(s) == 15 and (s > 0).all()
    assert res["min"] <= res["p50"] <= res["p90"] <= res["p99"] <= res["max"]
    for q, key in ((50, "p50"), (90, "p90"), (99, "p99")):
        assert res[key] == pytest.approx(np.percentile(s, q))
    assert res["mean"] == pytest.approx(s.mean())


# ---------------------------------------------------------------- throughput / memory
def test_throughput_sweep_structure():
    m = tiny_model()
    res = P.measure_throughput(m, lambda bs: batch(bs, 16), (1, 4), min_time_s=0.05, min_iters=2)
    assert set(res["per_batch"]) == {"1", "4"}
    for bs, row in res["per_batch"].items():
        assert row["examples"] == int(bs) and row["iters"] >= 2 and row["seconds"] >= 0.05
        assert row["examples_per_s"] == pytest.approx(row["examples"] * row["iters"] / row["seconds"])
        assert row["ms_per_batch"] == pytest.approx(1000 * row["seconds"] / row["iters"])
    best = max(res["per_batch"], key=lambda k: res["per_batch"][k]["examples_per_s"])
    assert res["best_batch"] == int(best)
    assert res["examples_per_s"] == res["per_batch"][best]["examples_per_s"]


def test_cpu_peak_memory_sees_a_large_allocation():
    n = 16 * 1024 * 1024  # 64 MiB of float32, written (so resident)

    def fn():
        x = torch.ones(n)
        return float(x[-1])

    res = P.measure_peak_memory(fn)
    assert res["peak_mb"] > 64
    if res["method"] == "vmhwm_reset":
        assert res["increase_mb"] >= 60
    else:  # no reset possible: lifetime peak only
        assert res["increase_mb"] is None


# ---------------------------------------------------------------- profile + trace
def test_profile_inference_writes_trace_and_profile(tmp_path):
    m = MultipleChoice(tiny_model())

    def make_inputs(bs):
        g = torch.Generator().manual_seed(bs)
        ids = torch.randint(5, 1000, (bs, 2, 16), generator=g)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    prof = P.profile_inference(m, make_inputs, tmp_path, seq_len=16, batch_sizes=(1, 4),
                               warmup=1, repeats=5, min_time_s=0.02, n_trace_steps=2, run_name="r1")
    assert prof["params"] == P.count_params(m)
    fl = prof["flops_per_example"]
    assert fl["sequences_per_example"] == 2 and fl["seq_len"] == 16
    assert fl["head_params"] == 64 * 64 + 64
    assert fl["counted"] == fl["analytic"] and fl["rel_diff"] == 0.0
    assert m.encoder.config._attn_implementation == "sdpa"
    lat = prof["latency_ms"]
    assert lat["n"] == 5 and lat["p50"] <= lat["p90"] <= lat["p99"]
    assert prof["throughput"]["best_batch"] in (1, 4)
    assert prof["peak_mem_mb"] > 0 and prof["device"] == "cpu" and prof["dtype"] == "float32"
    assert prof["threads"] == 1 and prof["batch_sizes"] == [1, 4]
    assert prof["trace_dir"] == str(tmp_path / "trace")
    traces = list((tmp_path / "trace" / "r1").glob("*.pt.trace.json"))
    assert len(traces) == 1 and [str(traces[0])] == prof["trace_files"]
    trace = json.loads(traces[0].read_text())
    assert isinstance(trace["traceEvents"], list) and trace["traceEvents"]
    names = {e.get("name", "") for e in trace["traceEvents"]}
    assert any("linear" in n or "addmm" in n for n in names)
    # the caller writes the record (xstilts.core.records.InferenceProfile): the dict is its JSON
    assert not (tmp_path / "profile.json").exists()
    on_disk = json.loads(json.dumps(prof))
    assert on_disk["flops_per_example"] == fl and on_disk["latency_ms"] == lat
    with pytest.raises(ValueError):
        P.profile_inference(m, make_inputs, tmp_path, seq_len=32)


def test_profile_inference_bf16_autocast(tmp_path):
    m = tiny_model()
    prof = P.profile_inference(m, lambda bs: batch(bs, 8), tmp_path, dtype="bf16", batch_sizes=(2,),
                               warmup=1, repeats=3, min_time_s=0.01, n_trace_steps=1)
    assert prof["dtype"] == "bfloat16" and prof["throughput"]["best_batch"] == 2
    assert not (tmp_path / "profile.json").exists()


# ---------------------------------------------------------------- training cost
def test_cost_meter_hand_computed():
    cfg = tiny_config()
    meter = P.CostMeter("target", "cpu", cfg, head_params=64 * 64 + 64 * 3)
    # P_tok = 98304 linear weights per token, L=2, d=64, head 4288 weights on CLS
    # step 1: 4 sequences of padded length 16
    f1 = 2 * 98304 * 64 + 4 * (4 * 2 * 16 * 16 * 64) + 2 * 4288 * 4
    assert meter.step(examples=4, seq_lens=16) == 3 * f1
    # step 2: ragged padded lengths (bucketed batch)
    f2 = 2 * 98304 * 40 + 4 * 2 * 64 * (32 * 32 + 8 * 8) + 2 * 4288 * 2
    meter.step(examples=2, seq_lens=[32, 8])
    # micro-batch of a multiple-choice batch: 2 examples x 3 choices x T=8 (no optimizer step)
    ids = torch.ones(2, 3, 8, dtype=torch.long)
    f3 = 2 * 98304 * 48 + 6 * (4 * 2 * 8 * 8 * 64) + 2 * 4288 * 6
    meter.step_inputs({"input_ids": ids}, optimizer_step=False)
    cost = meter.result(best_step=2, stopped_early=True)
    assert set(cost) == COST_KEYS
    assert cost["phase"] == "target" and cost["steps"] == 2 and cost["examples"] == 8
    assert cost["tokens"] == 64 + 40 + 48
    assert cost["flops"] == 3 * (f1 + f2 + f3)
    assert cost["best_step"] == 2 and cost["stopped_early"] is True
    assert cost["wall_s"] > 0 and cost["device"] == "cpu"
    assert cost["device_hours"] == pytest.approx(cost["wall_s"] / 3600)
    assert cost["tokens_per_s"] == pytest.approx(cost["tokens"] / cost["wall_s"])
    assert cost["peak_mem_mb"] > 0
    json.dumps(cost)  # JSON-ready


def test_cost_meter_matches_counter_on_real_training_step():
    """The meter's FLOPs == 3 x counted forward == counted forward+backward of a real step."""
    from torch.utils.flop_counter import FlopCounterMode

    m = tiny_model()
    m.train()
    meter = P.CostMeter("intermediate", "cpu", m.config, head_params=64 * 64)
    inputs = batch(3, 20)
    opt = torch.optim.SGD(m.parameters(), lr=0.0)
    with P.eager_attention(m), FlopCounterMode(display=False) as fc:
        loss = m(**inputs).pooler_output.square().mean()
        loss.backward()
    opt.step()
    meter.step_inputs(inputs)
    cost = meter.result()
    forward = P.counted_forward_flops(m, inputs)
    assert cost["flops"] == 3 * forward
    # the counted forward+backward is exactly 3x the counted forward here (every matmul has a
    # weight gradient and an input gradient; the embeddings need the first layer's input grad)
    assert fc.get_total_flops() == 3 * forward
    assert cost["steps"] == 1 and cost["examples"] == 3 and cost["tokens"] == 60


def test_cost_meter_callable_and_errors():
    meter = P.CostMeter("pretrain", "cpu", lambda lens: float(sum(lens)))
    meter.step(examples=2, seq_lens=[5, 7])
    assert meter.result()["flops"] == 3 * 12
    with pytest.raises(ValueError):
        meter.step(examples=2)
    with pytest.raises(ValueError):
        P.CostMeter("pretrain", "cpu", None)
    assert math.isfinite(meter.elapsed_s())
