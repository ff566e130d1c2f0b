"""Example instance configuration: copy to instance/config.py and adjust.

Rapport writes instance/config.py with a fresh SECRET_KEY on first run. Every
setting here can also be given as an environment variable with a CRM_ prefix
(CRM_DATABASE_URL, CRM_SECRET_KEY, ...), which wins over this file.
"""

# SECRET_KEY = "a long random string"
# DATABASE_URL = "postgresql+psycopg://rapport@db.internal/rapport"
# PHONE_DEFAULT_REGION = "GB"   # accept national phone numbers for this region
