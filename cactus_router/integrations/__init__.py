"""Integrations with engines outside cactus-router, each behind its extra (``pip install "cactus-router[ray]"``)."""
