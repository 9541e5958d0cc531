"""Batch-norm statistics recomputed on the final network (liver3d.engines.batchnorm): the exact average over the
batches, nothing else touched, and the trainer handler that runs it before the final model is saved."""

import pytest
import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer

from liver3d.engines import PreciseBatchNorm, recompute_batchnorm_statistics


def _batches(seed=0, n=5, size=8):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(size, 3, generator=g) * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([3.0, -1.0, 0.0])
        for _ in range(n)
    ]


def test_statistics_become_the_average_over_the_batches_and_nothing_else_changes():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3, momentum=0.3))
    weights = {
        k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k
    }
    net.eval()
    batches = _batches()
    assert recompute_batchnorm_statistics(net, batches, lambda b: b) == len(batches)

    with torch.no_grad():
        hidden = [net[0](b) for b in batches]
    bn = net[1]
    expected_mean = torch.stack([h.mean(0) for h in hidden]).mean(0)
    expected_var = torch.stack([h.var(0, unbiased=True) for h in hidden]).mean(0)
    torch.testing.assert_close(bn.running_mean, expected_mean)
    torch.testing.assert_close(bn.running_var, expected_var)
    assert bn.momentum == 0.3 and not net.training  # momentum and mode restored
    for key, value in weights.items():
        torch.testing.assert_close(net.state_dict()[key], value)


def test_a_network_without_batch_norm_is_left_alone():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert recompute_batchnorm_statistics(net, _batches(), lambda b: b) == 0
    for key, value in before.items():
        torch.testing.assert_close(net.state_dict()[key], value)


def test_an_empty_loader_is_an_error_and_restores_the_layers():
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="loader is empty"):
        recompute_batchnorm_statistics(net, [], lambda b: b)
    assert net[0].momentum == 0.1 and net.training


def test_the_trainer_handler_runs_before_the_final_save():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    data = [{"image": b, "label": (b[:, 0] > 3).long()} for b in _batches(seed=1, n=6)]
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=2,
        train_data_loader=data,
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=torch.nn.CrossEntropyLoss(),
    )
    PreciseBatchNorm(data).attach(trainer)
    saved = {}
    trainer.add_event_handler(Events.COMPLETED, lambda e: saved.update(net[1].state_dict()))
    trainer.run()

    with torch.no_grad():
        hidden = [net[0](d["image"]) for d in data]
    torch.testing.assert_close(saved["running_mean"], torch.stack([h.mean(0) for h in hidden]).mean(0))
    torch.testing.assert_close(saved["running_var"], torch.stack([h.var(0) for h in hidden]).mean(0))
