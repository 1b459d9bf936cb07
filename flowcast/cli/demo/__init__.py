"""flowcast demo: prepare a city and a quick model, the stream's clock, the terminal report, the
run, the command.
"""
