"""Logger and metrics singletons (Powertools). Never log keys or full endpoints."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

logger = Logger(service="sentori-push")


@cache
def metrics() -> Metrics:
    """EMF metrics; created on first use so the namespace comes from the function's environment."""
    from aws_lambda_powertools import Metrics

    return Metrics(service="sentori-push")
