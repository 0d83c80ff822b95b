"""The synthetic OTT world the demo generator draws from: regions, catalogues, viewers.

Deterministic for a seed, so a demo run (and a test) is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

EEA = ("DE", "FR", "ES", "IT", "NL", "SE", "PL", "BE", "IE", "AT")


@dataclass(frozen=True)
class Region:
    country: str
    utc_offset_hours: float
    weight: float  # share of the audience


REGIONS = (
    Region("US", -5, 0.30),
    Region("IN", 5.5, 0.22),
    Region("DE", 1, 0.12),
    Region("FR", 1, 0.10),
    Region("GB", 0, 0.08),
    Region("ES", 1, 0.06),
    Region("BR", -3, 0.07),
    Region("JP", 9, 0.05),
)
RATINGS = {
    "US": ("TV-Y", "TV-G", "TV-PG", "TV-14", "TV-MA"),
    "IN": ("U", "U/A 7+", "U/A 13+", "U/A 16+", "A"),
}
DEFAULT_RATINGS = ("U", "PG", "12", "15", "18")
AD_CATEGORIES = (
    "cars",
    "telecom",
    "retail",
    "travel",
    "streaming",
    "games",
    "snacks",
    "alcohol",
    "gambling",
    "hfss_food",
)
TITLE_WORDS = ("The", "A", "Our", "Night", "Blue", "Little")
TITLE_NOUNS = ("Harbour", "Garden", "Signal", "Voyage", "Kitchen", "Rocket", "Detectives")
DESCRIPTORS = ("violence", "language", "fear", "drugs", "sex")
KIDS_SAFE_AD_CATEGORIES = ("toys", "books", "streaming", "games")


@dataclass(frozen=True)
class Title:
    id: str
    name: str
    rating: str
    made_for_kids: bool
    european: bool
    origin: str
    channel_id: str | None  # linear channel for live/scheduled titles
    production_type: str
    descriptors: tuple[str, ...]
    duration_seconds: int
    captions: bool
    territories: tuple[str, ...]
    window_start: datetime
    window_end: datetime

    def document(self) -> dict[str, object]:
        content: dict[str, object] = {
            "id": self.id,
            "title": self.name,
            "rating": self.rating,
            "madeForKids": self.made_for_kids,
            "isEuropeanWork": self.european,
            "originCountry": self.origin,
            "durationSeconds": self.duration_seconds,
            "captionsAvailable": self.captions,
            "productionType": self.production_type,
            "contentDescriptors": list(self.descriptors) or None,
            "licence": {
                "territories": list(self.territories),
                "windowStart": self.window_start.isoformat().replace("+00:00", "Z"),
                "windowEnd": self.window_end.isoformat().replace("+00:00", "Z"),
            },
        }
        if self.channel_id:
            content["channelId"] = self.channel_id
        return content


@dataclass
class Viewer:
    id: str
    account_id: str
    email: str
    age: int
    country: str
    kids_profile: bool
    purposes: list[str]
    parental_lock: bool
    age_verified: bool
    device_id: str
    device_type: str
    ip: str

    def document(self) -> dict[str, object]:
        return {
            "id": self.id,
            "accountId": self.account_id,
            "email": self.email,
            "age": self.age,
            "country": self.country,
            "isKidsProfile": self.kids_profile,
            "parentalConsent": self.kids_profile,
            "parentalConsentMethod": "credit_card_transaction" if self.kids_profile else None,
            "parentalLockEnabled": self.parental_lock,
            "ageVerified": self.age_verified,
            "consentedPurposes": self.purposes,
        }


@dataclass
class TenantWorld:
    """One tenant's catalogue and audience."""

    tenant: str
    titles: list[Title]
    viewers: list[Viewer]
    channels: list[str]
    regions: tuple[Region, ...] = field(default=REGIONS)

    @classmethod
    def build(
        cls, tenant: str, rng: random.Random, now: datetime, viewers: int = 400, titles: int = 60
    ) -> TenantWorld:
        channels = [f"{tenant}-ch{i}" for i in range(1, 5)]
        catalogue = []
        for number in range(titles):
            kids = rng.random() < 0.25
            origin = rng.choice([r.country for r in REGIONS])
            live = rng.random() < 0.2
            others = rng.sample([r.country for r in REGIONS], k=rng.randint(3, 7))
            territories = tuple(sorted({origin, *others}))
            # the classification of the strictest market it is licensed in
            scheme = "IN" if "IN" in territories else origin
            ratings = RATINGS.get(scheme, DEFAULT_RATINGS)
            start = now - timedelta(days=rng.randint(30, 700))
            rating = ratings[rng.randint(0, 1)] if kids else rng.choice(ratings[2:])
            catalogue.append(
                Title(
                    id=f"{tenant}-t{number:03d}",
                    name=f"{rng.choice(TITLE_WORDS)} {rng.choice(TITLE_NOUNS)} {number}",
                    rating=rating,
                    made_for_kids=kids,
                    european=origin in EEA,
                    origin=origin,
                    channel_id=rng.choice(channels) if live else None,
                    production_type="live" if live else "prerecorded",
                    descriptors=()
                    if rating == ratings[0]
                    else tuple(rng.sample(DESCRIPTORS, k=rng.randint(1, 2))),
                    duration_seconds=rng.choice((1320, 2640, 3600, 5400, 7200)),
                    captions=True,
                    territories=territories,
                    window_start=start.replace(microsecond=0),
                    window_end=(now + timedelta(days=rng.randint(60, 900))).replace(microsecond=0),
                )
            )
        audience = []
        weights = [r.weight for r in REGIONS]
        for number in range(viewers):
            region = rng.choices(REGIONS, weights)[0]
            kids = rng.random() < 0.15
            purposes = (
                ["analytics", "advertising", "personalisation"]
                if rng.random() < 0.6
                else ["analytics"]
            )
            audience.append(
                Viewer(
                    id=f"{tenant}-v{number:05d}",
                    account_id=f"{tenant}-a{number // 3:05d}",
                    email=f"viewer{number}@{tenant}.example",
                    age=rng.randint(6, 12) if kids else rng.randint(18, 80),
                    country=region.country,
                    kids_profile=kids,
                    purposes=purposes if not kids else [],
                    parental_lock=kids or rng.random() < 0.3,
                    age_verified=not kids and rng.random() < 0.9,
                    device_id=f"{tenant}-d{number:05d}",
                    device_type=rng.choice(("tv", "mobile", "tablet", "web", "set_top_box")),
                    ip=f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                )
            )
        return cls(tenant, catalogue, audience, channels)
