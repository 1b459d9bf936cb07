"""The streaming engine: the loop, partition workers, state, event time, cycles, the model holder,
the checkpoint.
"""
