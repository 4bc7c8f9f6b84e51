import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import TensorDataset

from headstart.models import create_backbone
from headstart.models.transfer import HeadConfig, TransferModel, frozen_batchnorms
from headstart.training.engine import Trainer, layerwise_param_groups


def bn_stats(module):
    return {n: m.running_mean.clone() for n, m in module.named_modules() if isinstance(m, _BatchNorm)}


def test_frozen_batchnorm_keeps_its_statistics_while_the_top_trains():
    model = TransferModel(create_backbone("efficientnet_lite0"), num_classes=3, head=HeadConfig("linear"))
    model.set_trainable(1)  # only the last backbone group and the head learn
    top = set(model.backbone_groups()[-1])
    before = bn_stats(model.backbone)
    weights_before = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 3, 96, 96, generator=generator), torch.arange(16) % 3)
    trainer = Trainer(model, batch_size=8, seed=0)
    trainer.run_stage("top-1", data, None, layerwise_param_groups(model, model.backbone_groups(), 1e-2, 0.5, 1), 1)

    assert model.training
    frozen = frozen_batchnorms(model.backbone.modules())
    assert frozen and all(not m.training for m in frozen)
    after = bn_stats(model.backbone)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    trainable_bn = {n.rsplit(".", 1)[0] for n in top}
    assert changed and changed <= trainable_bn  # only the unfrozen group's BatchNorm statistics moved
    moved = {n for n, p in model.backbone.named_parameters() if not torch.equal(weights_before[n], p.detach())}
    assert moved and moved <= top  # frozen weights never move


def test_discriminative_learning_rates_shrink_towards_the_input():
    model = TransferModel(create_backbone("efficientnet_lite0", pretrained=False), num_classes=2)
    model.set_trainable(None)
    groups = layerwise_param_groups(model, model.backbone_groups(), head_lr=1e-3, decay=0.5, top_groups=None)
    rates = [g["lr"] for g in groups]
    assert rates[0] == 1e-3 and rates == sorted(rates, reverse=True)
    assert len(groups) == len(model.backbone_groups()) + 1
    total = sum(p.numel() for g in groups for p in g["params"])
    assert total == sum(p.numel() for p in model.parameters())


def test_set_trainable_freezes_all_but_the_top_groups():
    model = TransferModel(create_backbone("efficientnet_lite0", pretrained=False), num_classes=2)
    groups = model.backbone_groups()
    model.set_trainable(2)
    trainable = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
    assert trainable == set(groups[-1]) | set(groups[-2])
    model.set_trainable(0)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
