import time


def place(weight, replicas):
    time.sleep(30)
