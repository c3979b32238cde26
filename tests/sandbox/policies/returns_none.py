def place(weight, replicas):
    weight.sum()
