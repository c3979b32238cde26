def spin():
    count = 0
    while True:
        count += 1


def place(weight, replicas):
    spin()
