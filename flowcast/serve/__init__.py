"""Serving: a live view of the output topics, the HTTP API, server-sent events and the pages.

``service`` sets it all up in one call; ``output_reader`` feeds ``view`` from the topics; the
view keeps its spots, alerts and screen rankings in ``spot_board``, ``alert_book`` and
``screen_board``; ``http`` serves it.
"""
