"""The wire formats of readings: JSON records and Arrow frames, checked against the city; dead
letters.
"""
