"""A policy with a syntax error on line 5."""


def place(weight, replicas):
    return (weight, replicas
