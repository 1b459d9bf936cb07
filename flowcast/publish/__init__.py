"""From forecasts to messages: road conditions and screen rankings (roads/), saturation alerts and
spot forecasts (spots/).
"""
