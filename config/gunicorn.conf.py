"""gunicorn settings, from the environment like everything else (see .env.example)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
# behind a reverse proxy that sets X-Forwarded-For / -Proto
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# the app logs JSON itself; gunicorn's access log would duplicate it
accesslog = None
errorlog = "-"


def post_worker_init(worker):
    """Without Redis (the embedded default) background work runs inside the web process."""
    if not os.environ.get("REDIS_URL"):
        from backend.worker import start_in_process

        start_in_process(worker.wsgi)
