def check(weight):
    raise ValueError("weights must be sorted")


def place(weight, replicas):
    check(weight)
