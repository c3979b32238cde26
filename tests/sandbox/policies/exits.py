import os


def place(weight, replicas):
    os._exit(3)
