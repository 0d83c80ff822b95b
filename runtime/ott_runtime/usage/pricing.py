"""Plans and their prices, from configuration (``plans.yaml``), and the estimated charge.

Prices are in minor-unit-free decimals of one currency; the packaged defaults are only a
starting point, which an operator replaces with its own file.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PLANS = Path(__file__).with_name("plans.yaml")


class PlanPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    monthly_base: Decimal = Field(alias="monthlyBase", ge=0)
    included_events: int = Field(alias="includedEvents", ge=0)
    per_million_events: Decimal = Field(alias="perMillionEvents", ge=0)
    per_thousand_api_calls: Decimal = Field(alias="perThousandApiCalls", ge=0)
    per_gib_ingested: Decimal = Field(alias="perGiBIngested", ge=0)


class PriceList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(min_length=3, max_length=3)
    plans: dict[str, PlanPrice]

    @classmethod
    def load(cls, path: Path | None = None) -> PriceList:
        document = yaml.safe_load((path or DEFAULT_PLANS).read_text())
        return cls.model_validate(document)

    def estimate(self, plan: str, *, events: int, api_calls: int, bytes_in: int) -> dict[str, Any]:
        """The month's charge so far, itemised, rounded to cents."""
        price = self.plans[plan]
        billable_events = max(0, events - price.included_events)
        items = {
            "base": price.monthly_base,
            "events": price.per_million_events * billable_events / Decimal(1_000_000),
            "apiCalls": price.per_thousand_api_calls * api_calls / Decimal(1000),
            "ingest": price.per_gib_ingested * bytes_in / Decimal(1024**3),
        }
        cents = Decimal("0.01")
        rounded = {k: v.quantize(cents, ROUND_HALF_UP) for k, v in items.items()}
        return {
            "currency": self.currency,
            "plan": plan,
            "items": {k: str(v) for k, v in rounded.items()},
            "total": str(sum(rounded.values(), Decimal(0)).quantize(cents)),
        }
