import ctypes


def place(weight, replicas):
    return ctypes.string_at(0)
