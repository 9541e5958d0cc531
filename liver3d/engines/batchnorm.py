"""Batch-norm statistics measured on the finished network ("precise BN", Wu & Johnson 2021, "Rethinking
'Batch' in BatchNorm"; the same pass as :func:`torch.optim.swa_utils.update_bn`).

During training each batch-norm layer keeps an exponential moving average of its batches' means and variances
(momentum 0.1): at the end it mostly reflects the last dozen batches, seen by slightly different weights. At
evaluation those running statistics shift every activation, and with them the decision between two close
classes, by an amount that depends on which batches came last, that is on the seed. Recomputing them as the plain
average over a whole pass of the training data with the final weights removes that noise; the weights themselves
are not touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from ignite.engine import Engine, Events
from torch.nn.modules.batchnorm import _BatchNorm


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


class PreciseBatchNorm:
    """When training completes, recompute the network's batch-norm statistics over one pass of ``loader``.

    Attach it to the trainer before the handler that saves the final model, so that the saved file carries the
    recomputed statistics (Ignite runs the handlers of one event in the order they were attached). Batches are
    prepared by the trainer's own ``prepare_batch``, on its device.
    """

    def __init__(self, loader: Iterable[Any]) -> None:
        self.loader = loader

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        network = engine.network  # type: ignore[attr-defined]

        def to_input(batch: Any) -> torch.Tensor:
            return engine.prepare_batch(batch, engine.state.device, engine.non_blocking)[0]  # type: ignore[attr-defined]

        used = recompute_batchnorm_statistics(network, self.loader, to_input)
        if used:
            engine.logger.info(
                f"batch-norm statistics of {len(batchnorm_layers(network))} layers recomputed over {used} "
                "training batches with the final weights"
            )
        else:
            engine.logger.info("no batch-norm layers: statistics left as they are")
