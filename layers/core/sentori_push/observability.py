"""Logger singleton (Powertools, structured JSON). Never log keys or endpoints."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="sentori-push")
