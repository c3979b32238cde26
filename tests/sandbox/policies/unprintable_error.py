"""Raises an exception whose message cannot be formatted."""


class Unprintable(Exception):
    def __str__(self):
        raise KeyError("no message for you")


def place(weight, replicas):
    raise Unprintable()
