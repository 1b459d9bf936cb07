"""Forecasters behind one protocol: baselines; road, intra-day spot and daily-arrivals models;
calendar; horizons.
"""
