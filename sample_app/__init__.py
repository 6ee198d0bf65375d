"""A small real service for promkit to scrape: a FastAPI webhook, a Celery worker, Redis.

``sample_app.app`` is the web app (port 8000), ``sample_app.worker`` the Celery
worker (metrics on port 8001), ``sample_app.probe`` a healthcheck without curl.
"""
