"""Never finishes importing."""
while True:
    pass


def place(weight, replicas):
    return None
