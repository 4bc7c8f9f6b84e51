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
