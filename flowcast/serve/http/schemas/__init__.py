"""The JSON answers of the HTTP API as pydantic models, for ``/openapi.json``.

The models document; they never validate or filter what is served (the routes declare them in
``responses``, not as ``response_model``): the API answers the live view's messages as they
are, so a producer's additive field reaches clients, and the big answers cost no validation.
``tests/serve/http/test_app.py`` checks that the served payloads match them.

- :mod:`.roads`: road conditions; :mod:`.screens`: guidance-screen rankings and their
  destination spot; :mod:`.geometry`: the city to draw;
- :mod:`.spots`: spot forecasts, their day view, the bureau's spot entries and curves;
  :mod:`.figures`: a spot's saturation figures, shared with alerts and screens;
- :mod:`.alerts`: CAP 1.2 messages, alert episodes, acknowledgements;
- :mod:`.common`: health, readiness and the error bodies.
"""
