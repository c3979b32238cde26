"""The reference backend: what every construct of a spec means, on one instance.

    ops           scalar rules on Python and numpy values (the operator table, implemented)
    interpreter   one IR expression at one binding of its index variables
    steps         a step block as a plain loop
    instance      lets, invariants, metrics and bounds of one instance (`evaluate_instance`)

Written to be obviously right rather than fast; the other backends are tested against it.
"""
