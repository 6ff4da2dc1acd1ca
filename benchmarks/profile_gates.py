"""Where the recorded gates' time goes: one chunk of windows, one thread, the parts of `add_gates` timed alone.

    python benchmarks/profile_gates.py [--windows 256] [--repeats 21]

Prints medians in ms: the fused forward and the h, c recording of the chunk (for scale), `add_gates` whole, then its
matrix products (with GFLOP/s, and in bfloat16 with their largest error relative to float64), its sigmoid pass and
the g-gate fix-up on cache-resident blocks, and a variant that feeds the products from a layer-major h directly (one
product for x_t, one accumulated for h_{t-1}) instead of laying both side by side first. Same model as
bench_states.py.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lstmcast.config import ManyToOneConfig
from lstmcast.introspect.buffers import Buffers
from lstmcast.introspect.gates import ROWS_PER_PRODUCT, add_gates
from lstmcast.introspect.record import record
from lstmcast.models.lstm import build_model, lstm_weights


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def two_products(lstm, h_by_layer, x, store) -> None:
    """The gates without the side-by-side operand: h_by_layer [L, T, W, U] contiguous, store [L, T, W, 4U]."""
    layers, steps, windows, units = h_by_layer.shape
    block = max(1, ROWS_PER_PRODUCT // windows)
    hidden = lstm.hidden_size
    doubled = torch.ones(4 * hidden)
    doubled[2 * hidden : 3 * hidden] = 2.0
    layer_input = x.transpose(0, 1).contiguous()  # [T, W, F]
    for layer in range(layers):
        w_ih, w_hh, bias, _ = lstm_weights(lstm, layer)
        w_ih, w_hh = (w_ih * doubled[:, None]).T.contiguous(), (w_hh * doubled[:, None]).T.contiguous()
        for start in range(0, steps, block):
            stop = min(start + block, steps)
            z = store[layer, start:stop].view(-1, 4 * hidden)
            torch.addmm(bias * doubled, layer_input[start:stop].reshape(-1, layer_input.shape[-1]), w_ih, out=z)
            previous = h_by_layer[layer, max(start - 1, 0) : stop - 1].reshape(-1, units)  # zero state before step 0
            (z[windows:] if start == 0 else z).addmm_(previous, w_hh)
            z.sigmoid_()
            z[:, 2 * hidden : 3 * hidden].mul_(2.0).sub_(1.0)
        layer_input = h_by_layer[layer]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(ManyToOneConfig(kind="many_to_one", hidden_size=64, num_layers=2), layout=1,
                        horizon=5).eval()
    lstm, windows, steps, hidden = model.lstm, args.windows, 64, 64
    x = torch.randn(windows + steps - 1).unfold(0, steps, 1)[:, :, None]
    buffers = Buffers()
    rows = min(ROWS_PER_PRODUCT, windows * steps)
    blocks = windows * steps / rows  # products per layer
    with torch.inference_mode():
        fused = median_ms(lambda: lstm(x), args.repeats)
        recorded = median_ms(lambda: record(model, x, buffers=buffers), args.repeats)
        recording = record(model, x, buffers=buffers)
        gates = median_ms(lambda: add_gates(lstm, recording.encoder, x, buffers=buffers), args.repeats)
        out, bias = torch.empty(rows, 4 * hidden), torch.randn(4 * hidden)
        products, halved, flops, error = 0.0, 0.0, 0.0, 0.0
        for width in (1 + hidden, 2 * hidden):  # layer 0 reads x_t (1 column) and h_{t-1}; layer 1 two h's
            operand, weights = torch.randn(rows, width), torch.randn(width, 4 * hidden)
            products += blocks * median_ms(lambda: torch.addmm(bias, operand, weights, out=out), args.repeats)
            flops += 2.0 * windows * steps * width * 4 * hidden
            low = [t.bfloat16() for t in (bias, operand, weights, out)]
            halved += blocks * median_ms(lambda: torch.addmm(*low[:3], out=low[3]), args.repeats)
            exact = torch.addmm(bias.double(), operand.double(), weights.double())
            error = max(error, float((torch.addmm(*low[:3]).double() - exact).abs().max() / exact.abs().max()))
        sigmoid = 2 * blocks * median_ms(lambda: out.sigmoid_(), args.repeats)
        fix = 2 * blocks * median_ms(lambda: out[:, 2 * hidden : 3 * hidden].mul_(2.0).sub_(1.0), args.repeats)
        by_layer = recording.encoder.h.permute(2, 1, 0, 3).contiguous()
        store = torch.empty(2, steps, windows, 4 * hidden)
        variant = median_ms(lambda: two_products(lstm, by_layer, x, store), args.repeats)
        two_products(lstm, by_layer, x, store)
        add_gates(lstm, recording.encoder, x, buffers=buffers)
        difference = max(float((store[..., k * hidden : (k + 1) * hidden].permute(2, 1, 0, 3)
                                - recording.encoder.gates[name]).abs().max()) for k, name in enumerate("ifgo"))
    print(f"one thread, {windows} windows x {steps} steps, 2 layers x {hidden} units; medians of {args.repeats}, ms")
    print(f"fused forward                 {fused:8.2f}")
    print(f"record h and c                {recorded:8.2f}  ({recorded / fused:.2f}x the fused forward)")
    print(f"add_gates                     {gates:8.2f}  ({gates / fused:.2f}x)")
    print(f"  its matrix products alone   {products:8.2f}  ({flops / products / 1e6:.0f} GFLOP/s, in cache)")
    print(f"  the same products in bf16   {halved:8.2f}  (error up to {error:.1e} of the largest pre-activation)")
    print(f"  its sigmoid pass alone      {sigmoid:8.2f}")
    print(f"  its g-gate fix-up alone     {fix:8.2f}")
    print(f"  rest (operands, writing the gates to memory) {gates - products - sigmoid - fix:.2f}")
    print(f"two products, no operand      {variant:8.2f}  (gates differ from add_gates' by {difference:.1e})")


if __name__ == "__main__":
    main()
