"""gunicorn's settings for this app (read by `gunicorn wsgi:app` from the working directory).

The access log leaves out everything personal or secret: no client address (%(h)s), no user
agent (%(a)s), no referer (%(f)s) and no URL (%(r)s, %(U)s, %(q)s) — paths carry secret
tokens (hub, unsubscribe, confirmation links). The app writes its own access log with the
route pattern instead (referral_app/web/request_log.py)."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1))))
accesslog = "-"
access_log_format = '%(t)s "%(m)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
