from __future__ import annotations

import torch

from lstmcast.config import ManyToOneConfig, Seq2SeqConfig
from lstmcast.models.lstm import ManyToOne, Seq2Seq, build_model


def test_many_to_one_head_reads_the_top_layers_last_output():
    torch.manual_seed(0)
    model = build_model(ManyToOneConfig(kind="many_to_one", hidden_size=8, num_layers=3, proj_size=4),
                        layout=2, horizon=5).eval()
    x = torch.randn(7, 11, 2)
    y, (h, c) = model(x)
    assert isinstance(model, ManyToOne) and y.shape == (7, 5)
    assert h.shape == (3, 7, 4) and c.shape == (3, 7, 8)  # with proj_size, h is projected and c is not
    output, _ = model.lstm(x)
    torch.testing.assert_close(y, model.head(h[-1]))
    torch.testing.assert_close(output[:, -1], h[-1])


def test_seq2seq_decodes_step_by_step_from_the_encoder_state():
    torch.manual_seed(0)
    model = build_model(Seq2SeqConfig(kind="seq2seq", hidden_size=8, num_layers=2), layout=3, horizon=4).eval()
    assert isinstance(model, Seq2Seq)
    x = torch.randn(5, 9, 3)
    y, _ = model(x)
    _, state = model.encoder(x)
    previous, manual = x[:, -1, :1], []
    for _ in range(4):  # the decoder by hand: each step fed the previous prediction
        output, state = model.decoder(previous[:, None, :], state)
        previous = model.head(output[:, 0])
        manual.append(previous)
    torch.testing.assert_close(y, torch.cat(manual, dim=1))
    longer, _ = model(x, horizon=6)  # autoregressive: it decodes past the trained horizon, same first steps
    torch.testing.assert_close(longer[:, :4], y)
    assert model.horizon == 4 and longer.shape == (5, 6)


def test_teacher_forcing_feeds_the_truth_only_when_asked():
    torch.manual_seed(0)
    model = build_model(Seq2SeqConfig(kind="seq2seq", hidden_size=8, num_layers=1), layout=1, horizon=3).eval()
    x, target = torch.randn(4, 6, 1), torch.randn(4, 3)
    free, _ = model(x)
    unforced, _ = model(x, target=target, teacher_forcing=0.0)
    forced, _ = model(x, target=target, teacher_forcing=1.0)
    torch.testing.assert_close(free, unforced)
    torch.testing.assert_close(forced[:, 0], free[:, 0])  # step 1 never sees a target
    assert not torch.allclose(forced[:, 1:], free[:, 1:])
