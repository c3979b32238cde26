"""good_numpy.py written against torch tensors."""
import torch


def place(weight: torch.Tensor, replicas: int):
    layers, experts = weight.shape
    extra = replicas - experts
    heaviest = torch.argsort(-weight, dim=1, stable=True)[:, :extra]
    phy2log = torch.cat([torch.arange(experts).repeat(layers, 1), heaviest], dim=1)
    logcnt = torch.zeros(layers, experts, dtype=torch.int64)
    logcnt.scatter_add_(1, phy2log, torch.ones_like(phy2log))
    return phy2log, logcnt, weight / logcnt
