"""The yardstick: bare Flask, one JSON endpoint, under the same gunicorn settings.

`gunicorn -c config/gunicorn.conf.py bench.bare:app` — every product row is divided by this.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok():
    return {"status": "ok"}
