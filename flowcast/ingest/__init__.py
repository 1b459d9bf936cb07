"""Sources and decoding: wire formats and dead letters, CSV import, the simulator, the dataset
source.
"""
