import torch


def place(weight, replicas):
    return torch.ones(50 * 10**9, dtype=torch.uint8)
