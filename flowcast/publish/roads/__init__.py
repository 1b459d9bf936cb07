"""Road messages: congestion levels, trend and confidence, the condition message, guidance-screen
route ranking.
"""
