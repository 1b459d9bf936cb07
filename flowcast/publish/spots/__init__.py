"""Scenic-spot messages: saturation, the alert lifecycle, CAP 1.2, spot forecasts and the day view.
"""
