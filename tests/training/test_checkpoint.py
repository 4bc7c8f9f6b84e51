"""Checkpoints hold tensors and JSON only: a planted pickle or a damaged file is refused, nothing is run."""

from __future__ import annotations

import pickle

import pytest
import torch

from headstart.errors import HeadstartError
from headstart.training.checkpoint import (
    CHECKPOINT,
    Checkpoint,
    TrainerState,
    load_optimizer_state,
    optimizer_state,
)

RAN = []


class Payload:
    def __reduce__(self):
        return (RAN.append, ("code from a checkpoint ran",))


def test_optimizer_state_round_trips_through_tensors_and_json(tmp_path):
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    settings, tensors = optimizer_state(optimizer)
    state = TrainerState(0, 1, False, {"optimizer": settings}, model.state_dict(), tensors, None)
    Checkpoint(tmp_path).save(1, state)
    restored = Checkpoint(tmp_path, resume=True)
    assert restored.next_trainer() == (0, None, False)  # replayed before the saved trainer
    assert restored.next_trainer()[1] is not None and restored.next_trainer() == (2, None, True)
    again = torch.optim.AdamW(model.parameters(), lr=1e-3)
    saved = restored._saved[1]
    load_optimizer_state(again, saved.meta["optimizer"], saved.optimizer)
    for a, b in zip(optimizer.state.values(), again.state.values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq", "step"))


def test_restored_moments_of_a_channels_last_model_update_it_as_before(tmp_path):
    """Moments come back from the file contiguous; the fused CPU AdamW must still see them in the parameter's
    layout, or the steps after a resume move the wrong elements (seen as detection resumes off by 0.5%)."""
    model = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    inputs = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    model(inputs).square().sum().backward()
    optimizer.step()
    settings, tensors = optimizer_state(optimizer)
    twin = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    twin.load_state_dict(model.state_dict())
    again = torch.optim.AdamW(twin.parameters(), lr=1e-2, fused=True)
    load_optimizer_state(again, settings, {k: v.clone(memory_format=torch.contiguous_format) for k, v in tensors.items()})
    for net, opt in ((model, optimizer), (twin, again)):
        opt.zero_grad()
        net(inputs).square().sum().backward()
        opt.step()
    assert torch.equal(model.weight, twin.weight) and torch.equal(model.bias, twin.bias)


@pytest.mark.parametrize("content", [pickle.dumps({"model.weight": Payload()}), b"", b"\x00" * 64])
def test_planted_or_damaged_checkpoints_are_refused(tmp_path, content):
    (tmp_path / CHECKPOINT).write_bytes(content)
    with pytest.raises(HeadstartError, match="damaged|not a headstart checkpoint"):
        Checkpoint(tmp_path, resume=True)
    assert RAN == []


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(HeadstartError, match="no checkpoint to resume from"):
        Checkpoint(tmp_path, resume=True)


class TinyBackbone(torch.nn.Module):
    num_features = 6

    def forward(self, x):
        return x


def test_a_first_fit_whose_head_changed_layout_resumes_into_that_layout(tmp_path):
    """An image contrastive fit ends with the probe's square-root head (SignedPower, then Linear: weights named
    head.1.*); resuming during the refit must rebuild that head before loading, not fail on the names."""
    from headstart.estimators.base import Estimator
    from headstart.models.transfer import HeadConfig, TransferModel
    from headstart.progress import Reporter
    from headstart.strategies.base import FitContext

    fitted = TransferModel(TinyBackbone(), 3, HeadConfig("linear"))
    fitted.replace_head(HeadConfig("linear", power=0.5))
    torch.nn.init.normal_(fitted.head[-1].weight)
    identity = {"strategy": "contrastive", "examples": 9}
    checkpoint = Checkpoint(tmp_path)
    checkpoint._trainers = 1  # it trained
    assert checkpoint.save_first_fit(fitted.state_dict(), {"history": [], "details": {}, "warnings": [],
                                                            "head": fitted.head_config.to_record()}, identity)
    checkpoint.save(1, TrainerState(0, 1, False, {}, fitted.state_dict(), {}, None))  # the refit, interrupted
    fresh = TransferModel(TinyBackbone(), 3, HeadConfig("linear"))  # as the resumed run builds it
    ctx = FitContext(task=None, preprocessing={}, num_classes=3, seed=0, checkpoint=Checkpoint(tmp_path, resume=True))
    Estimator._first_fit(None, None, fresh, None, None, ctx, Reporter(False), identity)
    assert fresh.head_config.power == 0.5
    x = torch.rand(4, 6)
    torch.testing.assert_close(fresh(x), fitted(x))
