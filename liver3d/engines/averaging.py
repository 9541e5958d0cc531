"""Stochastic weight averaging (Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
Generalization", UAI 2018) as an Ignite handler for the bundles' trainers.

From ``start_epoch`` on, the network's weights at the end of every epoch are averaged with equal weight
(:class:`torch.optim.swa_utils.AveragedModel`); when training completes, the network takes the averaged weights and
its batch-norm statistics are measured again over one pass of the training data (averaged weights have no running
statistics of their own; the same pass as :func:`torch.optim.swa_utils.update_bn`), so the final model that the
saver writes next is the average. A run of one seed then ends at the centre of the region its last epochs
explored rather than at wherever the last step left it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from ignite.engine import Engine, Events
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel


def batchnorm_layers(network: torch.nn.Module) -> list[_BatchNorm]:
    """The batch-norm layers of ``network`` that keep running statistics."""
    return [m for m in network.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_batchnorm_statistics(
    network: torch.nn.Module, batches: Iterable[Any], to_input: Callable[[Any], torch.Tensor]
) -> int:
    """Replace the running mean and variance of every batch-norm layer in ``network`` by their average over
    ``batches`` (each turned into the network's input by ``to_input``); return the number of batches used.

    The network runs in training mode without gradients, so only the statistics change; the layers' momentum
    and the network's mode are restored afterwards. A network without batch norm is left as it is (returns 0).
    """
    layers = batchnorm_layers(network)
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    was_training = network.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches instead of an exponential one
    network.train()
    used = 0
    try:
        for batch in batches:
            network(to_input(batch))
            used += 1
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        network.train(was_training)
    if used == 0:
        raise ValueError(
            "no batches to measure the batch-norm statistics on: the training data loader is empty"
        )
    return used


class WeightAveraging:
    """Average the trainer's network over the ends of epochs ``start_epoch``.. and make it the final network.

    Attach it to the trainer before the handler that saves the final model (Ignite runs the handlers of one event
    in the order they were attached). ``loader`` gives the batches that measure the batch-norm statistics of the
    averaged network (the training loader), prepared by the trainer's own ``prepare_batch``. The average is part
    of the training state (``state_dict`` / ``load_state_dict``), so put the handler in the checkpoint to resume a
    run without losing it.
    """

    def __init__(self, network: torch.nn.Module, start_epoch: int, loader: Iterable[Any]) -> None:
        if int(start_epoch) < 1:
            raise ValueError(f"start_epoch must be 1 or more, got {start_epoch}")
        self.start_epoch = int(start_epoch)
        self.loader = loader
        self.averaged = AveragedModel(network)

    @property
    def epochs_averaged(self) -> int:
        return int(self.averaged.n_averaged.item())

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def state_dict(self) -> dict:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state)

    def _epoch_completed(self, engine: Engine) -> None:
        if engine.state.epoch >= self.start_epoch:
            self.averaged.update_parameters(engine.network)  # type: ignore[attr-defined]

    def _completed(self, engine: Engine) -> None:
        n = self.epochs_averaged
        if n == 0:
            engine.logger.info(
                f"weight averaging: training ended before epoch {self.start_epoch}, final network not averaged"
            )
            return
        network = engine.network  # type: ignore[attr-defined]
        with torch.no_grad():
            for target, source in zip(network.parameters(), self.averaged.module.parameters(), strict=True):
                target.copy_(source)

        def to_input(batch: Any) -> torch.Tensor:
            return engine.prepare_batch(batch, engine.state.device, engine.non_blocking)[0]  # type: ignore[attr-defined]

        used = recompute_batchnorm_statistics(network, self.loader, to_input)
        engine.logger.info(
            f"weight averaging: final network = mean of the weights after epochs {self.start_epoch}-"
            f"{self.start_epoch + n - 1} ({n}); batch-norm statistics measured over {used} training batches"
        )
