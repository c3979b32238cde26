import jax.numpy as jnp


def place(weight, replicas):
    return jnp.ones(50 * 10**9, dtype=jnp.uint8)
