"""Stochastic weight averaging (liver3d.engines.averaging): the final network is the mean of the weights after the
chosen epochs, its batch-norm statistics the exact average over the training batches, and the average survives a
checkpoint."""

import pytest
import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer

from liver3d.engines import WeightAveraging, recompute_batchnorm_statistics


def _batches(seed=0, n=5, size=8):
    g = torch.Generator().manual_seed(seed)
    scale, shift = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([3.0, -1.0, 0.0])
    return [torch.randn(size, 3, generator=g) * scale + shift for _ in range(n)]


def _average_over(first_layer, batches):
    with torch.no_grad():
        hidden = [first_layer(b) for b in batches]
    return torch.stack([h.mean(0) for h in hidden]).mean(0), torch.stack([h.var(0) for h in hidden]).mean(0)


def test_batchnorm_statistics_become_the_average_over_the_batches_and_nothing_else_changes():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3, momentum=0.3))
    weights = {k: v.clone() for k, v in net.named_parameters()}
    net.eval()
    batches = _batches()
    assert recompute_batchnorm_statistics(net, batches, lambda b: b) == len(batches)
    mean, var = _average_over(net[0], batches)
    torch.testing.assert_close(net[1].running_mean, mean)
    torch.testing.assert_close(net[1].running_var, var)
    assert net[1].momentum == 0.3 and not net.training  # momentum and mode restored
    for key, value in net.named_parameters():
        torch.testing.assert_close(value, weights[key])
    # No batch norm: nothing to do. Batch norm and no batches: an error, the layers restored.
    assert recompute_batchnorm_statistics(torch.nn.Linear(3, 3), batches, lambda b: b) == 0
    with pytest.raises(ValueError, match="loader is empty"):
        recompute_batchnorm_statistics(net, [], lambda b: b)
    assert net[1].momentum == 0.3


def _trainer(max_epochs):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    data = [{"image": b, "label": (b[:, 0] > 3).long()} for b in _batches(seed=1, n=6)]
    trainer = SupervisedTrainer(
        device=torch.device("cpu"),
        max_epochs=max_epochs,
        train_data_loader=data,
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.2),
        loss_function=torch.nn.CrossEntropyLoss(),
    )
    return trainer, net, data


def test_the_final_network_is_the_mean_of_the_chosen_epochs_with_measured_statistics():
    trainer, net, data = _trainer(max_epochs=4)
    after_epoch = {}
    trainer.add_event_handler(
        Events.EPOCH_COMPLETED,
        lambda e: after_epoch.update({e.state.epoch: [p.detach().clone() for p in net.parameters()]}),
    )
    averaging = WeightAveraging(net, start_epoch=2, loader=data)
    averaging.attach(trainer)
    trainer.run()

    assert averaging.epochs_averaged == 3
    for i, p in enumerate(net.parameters()):
        torch.testing.assert_close(p.detach(), torch.stack([after_epoch[e][i] for e in (2, 3, 4)]).mean(0))
    assert not torch.equal(next(net.parameters()).detach(), after_epoch[4][0])
    mean, var = _average_over(net[0], [d["image"] for d in data])
    torch.testing.assert_close(net[1].running_mean, mean)
    torch.testing.assert_close(net[1].running_var, var)


def test_the_average_survives_a_checkpoint_and_a_short_run_is_left_alone():
    trainer, net, data = _trainer(max_epochs=3)
    averaging = WeightAveraging(net, start_epoch=1, loader=data)
    averaging.attach(trainer)
    trainer.run()
    restored = WeightAveraging(torch.nn.Sequential(*[type(m)(*_shape(m)) for m in net]), 1, data)
    restored.load_state_dict(averaging.state_dict())
    assert restored.epochs_averaged == 3
    for a, b in zip(restored.averaged.parameters(), averaging.averaged.parameters()):
        torch.testing.assert_close(a, b)

    trainer, net, data = _trainer(max_epochs=2)
    before = [p.detach().clone() for p in net.parameters()]
    WeightAveraging(net, start_epoch=5, loader=data).attach(trainer)
    last = {}
    trainer.add_event_handler(
        Events.EPOCH_COMPLETED, lambda e: last.update(w=[p.detach().clone() for p in net.parameters()])
    )
    trainer.run()
    assert all(torch.equal(p.detach(), w) for p, w in zip(net.parameters(), last["w"]))
    assert not all(torch.equal(p.detach(), b) for p, b in zip(net.parameters(), before))
    with pytest.raises(ValueError, match="start_epoch"):
        WeightAveraging(net, start_epoch=0, loader=data)


def _shape(module):
    if isinstance(module, torch.nn.Linear):
        return module.in_features, module.out_features
    return (module.num_features,)
