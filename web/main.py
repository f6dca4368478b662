"""`uvicorn web.main:app`: the app with settings from the environment (as the seed ran it)."""

from web.app import create_app
from web.settings import Settings

app = create_app(Settings(), tune_gc=True)
