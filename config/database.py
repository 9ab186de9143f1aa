"""TORTOISE_ORM for the aerich command line (`aerich -c pyproject.toml ...`): same config the app uses."""

from sanctum_py.db.setup import tortoise_config
from sanctum_py.settings import Settings

TORTOISE_ORM = tortoise_config(Settings().database_url)
