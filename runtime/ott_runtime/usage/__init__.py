"""Usage metering per tenant per hour and plan pricing."""

from ott_runtime.usage.meter import ApiCallMeter
from ott_runtime.usage.pricing import PriceList

__all__ = ["ApiCallMeter", "PriceList"]
