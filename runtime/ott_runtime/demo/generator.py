"""A realistic synthetic OTT event stream for ``ottc demo`` (and for benchmarks).

- Daily and weekly cycles: each viewer's region shapes when they watch (evening peak in
  local time, weekend uplift); the generator's rate follows the audience's local clocks.
- Linear channels run ad breaks (pods of 2-5 spots of 15-30 s every ~15 minutes).
- Kids profiles, licence windows and territories, consent updates, signups, transfers,
  grievances and catalogue publishes, in plausible proportions.
- Injected violations (``violation_rate``): a targeted ad on a kids profile, an alcohol spot
  to a kids profile, playback outside the licensed territory or window, a pre-ticked
  consent, a transfer to the US without safeguards, an unrated publish, a child signup
  without parental consent, an ad-break overload on a channel.
- Anomalies (``anomaly_rate`` per simulated hour): a 10-minute burst of heartbeats from one
  region behind proxies, the kind of spike the models should flag.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ott_runtime.demo.world import (
    AD_CATEGORIES,
    KIDS_SAFE_AD_CATEGORIES,
    REGIONS,
    TenantWorld,
    Title,
    Viewer,
)

Event = dict[str, Any]
# share of ordinary events by type
MIX = (
    ("playback.heartbeat", 0.42),
    ("playback.start", 0.25),
    ("ad.impression", 0.20),
    ("consent.update", 0.04),
    ("account.signup", 0.03),
    ("content.publish", 0.02),
    ("grievance.filed", 0.02),
    ("data.transfer", 0.02),
)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audience_factor(moment: datetime) -> float:
    """How many viewers are watching now, relative to the daily mean (about 0.2-1.9)."""
    total = 0.0
    for region in REGIONS:
        local = moment + timedelta(hours=region.utc_offset_hours)
        hour = local.hour + local.minute / 60
        daily = 1 + 0.9 * math.cos((hour - 21) / 24 * 2 * math.pi)  # peak at 21:00 local
        weekly = 1.25 if local.weekday() >= 5 else 1.0
        total += region.weight * daily * weekly
    return total


@dataclass
class Burst:
    tenant: str
    country: str
    until: datetime


@dataclass
class GeneratorStats:
    events: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    anomalies: int = 0


class EventGenerator:
    def __init__(
        self,
        tenants: list[str],
        *,
        start: datetime,
        seed: int = 7,
        violation_rate: float = 0.03,
        anomaly_rate: float = 0.05,
        run: str = "",
    ) -> None:
        if not tenants:
            raise ValueError("the generator needs at least one tenant")
        self.rng = random.Random(seed)
        self.violation_rate = violation_rate
        self.anomaly_rate = anomaly_rate
        self.worlds = {t: TenantWorld.build(t, self.rng, start) for t in tenants}
        self.stats = GeneratorStats()
        self._counter = 0
        # ingest is idempotent by event id: a second run over the same simulated days needs
        # ids of its own, or everything it sends is answered as a duplicate
        self._run = f"{run}-" if run else ""
        self._next_break = {
            channel: start + timedelta(minutes=self.rng.uniform(0, 15))
            for world in self.worlds.values()
            for channel in world.channels
        }
        self._burst: Burst | None = None
        self._last_hour: datetime | None = None
        self._injections: tuple[tuple[str, Callable[[TenantWorld, datetime], list[Event]]], ...] = (
            ("targeted-ad-to-kid", self._targeted_ad_to_kid),
            ("alcohol-ad-to-kid", self._alcohol_ad_to_kid),
            ("outside-territory", self._outside_territory),
            ("after-licence-window", self._after_window),
            ("pre-ticked-consent", self._pre_ticked_consent),
            ("unsafe-us-transfer", self._unsafe_transfer),
            ("unrated-publish", self._unrated_publish),
            ("child-signup", self._child_signup),
            ("ad-overload", self._ad_overload),
        )

    # --- envelope -------------------------------------------------------------------

    def _event(
        self, world: TenantWorld, event_type: str, moment: datetime, **sections: Any
    ) -> Event:
        self._counter += 1
        self.stats.events[event_type] += 1
        event = {
            "specVersion": "1",
            "id": f"{world.tenant}-{self._run}{moment:%Y%m%d}-{self._counter:09d}",
            "type": event_type,
            "time": _stamp(moment),
        }
        event.update({k: v for k, v in sections.items() if v is not None})
        return event

    def _viewer(self, world: TenantWorld, moment: datetime, kids: bool | None = None) -> Viewer:
        candidates = world.viewers
        if kids is not None:
            candidates = [v for v in world.viewers if v.kids_profile == kids] or world.viewers
        return self.rng.choice(candidates)

    def _title_for(self, world: TenantWorld, viewer: Viewer, moment: datetime) -> Title:
        allowed = [
            t for t in world.titles
            if viewer.country in t.territories and t.window_start <= moment < t.window_end
            and (t.made_for_kids or not viewer.kids_profile)
        ]  # fmt: skip
        return self.rng.choice(allowed or world.titles)

    @staticmethod
    def _device(viewer: Viewer) -> dict[str, Any]:
        return {
            "id": viewer.device_id,
            "ip": viewer.ip,
            "type": viewer.device_type,
            "adIdShared": False,
            "analyticsEnabled": "analytics" in viewer.purposes,
        }

    @staticmethod
    def _geo(country: str, proxy: bool = False) -> dict[str, Any]:
        return {"country": country, "isProxy": proxy}

    # --- ordinary events ----------------------------------------------------------------

    def _playback(
        self,
        world: TenantWorld,
        moment: datetime,
        event_type: str,
        country: str | None = None,
        proxy: bool = False,
    ) -> Event:
        viewer = self._viewer(world, moment)
        title = self._title_for(world, viewer, moment)
        playback = {
            "sessionId": f"s-{viewer.id}-{moment:%j%H}",
            "positionSeconds": self.rng.randint(0, title.duration_seconds),
        }
        if event_type == "playback.heartbeat":
            playback["watchedSeconds"] = 60
        return self._event(
            world,
            event_type,
            moment,
            viewer=viewer.document(),
            device=self._device(viewer),
            geo=self._geo(country or viewer.country, proxy),
            content=title.document(),
            playback=playback,
        )

    def _ad(
        self,
        world: TenantWorld,
        moment: datetime,
        channel: str | None = None,
        position: str = "midroll",
    ) -> Event:
        viewer = self._viewer(world, moment)
        title = self._title_for(world, viewer, moment)
        content = title.document()
        content.pop("channelId", None)
        if channel or title.channel_id:  # linear: counts towards the channel's ad minutes
            content["channelId"] = channel or title.channel_id
        kids = viewer.kids_profile or title.made_for_kids
        ad = {
            "id": f"ad-{self.rng.randint(1, 400)}",
            "campaignId": f"cmp-{self.rng.randint(1, 40)}",
            "advertiser": "Demo Advertiser",
            "durationSeconds": float(self.rng.choice((15, 20, 30))),
            "targeted": (not kids) and "advertising" in viewer.purposes,
            "category": self.rng.choice(KIDS_SAFE_AD_CATEGORIES if kids else AD_CATEGORIES[:7]),
            "format": "spot",
            "position": "preroll" if title.made_for_kids else position,
        }
        return self._event(
            world,
            "ad.impression",
            moment,
            viewer=viewer.document(),
            geo=self._geo(viewer.country),
            content=content,
            ad=ad,
        )

    def _ordinary(self, world: TenantWorld, moment: datetime) -> list[Event]:
        event_type = self.rng.choices([t for t, _ in MIX], [w for _, w in MIX])[0]
        if event_type.startswith("playback."):
            return [self._playback(world, moment, event_type)]
        if event_type == "ad.impression":
            return self._ad_breaks(world, moment) or [self._ad(world, moment, position="preroll")]
        viewer = self._viewer(world, moment, kids=False)
        if event_type == "consent.update":
            consent = {
                "purposes": ["advertising"],
                "granted": self.rng.random() < 0.7,
                "method": "explicit_opt_in",
                "policyVersion": "2026-03",
                "recordId": f"cr-{self._counter}",
                "cmpId": "demo-cmp",
            }
            return [
                self._event(
                    world,
                    event_type,
                    moment,
                    viewer={"id": viewer.id},
                    geo=self._geo(viewer.country),
                    consent=consent,
                )
            ]
        if event_type == "account.signup":
            signup = {"fieldsCollected": ["email", "birthdate"], "method": "app"}
            return [
                self._event(
                    world,
                    event_type,
                    moment,
                    viewer=viewer.document(),
                    geo=self._geo(viewer.country),
                    signup=signup,
                )
            ]
        if event_type == "content.publish":
            return [
                self._event(
                    world, event_type, moment, content=self.rng.choice(world.titles).document()
                )
            ]
        if event_type == "grievance.filed":
            grievance = {
                "id": f"g-{self._counter}",
                "category": "content",
                "filedAt": _stamp(moment),
            }
            return [
                self._event(
                    world,
                    event_type,
                    moment,
                    viewer={"id": viewer.id},
                    geo=self._geo(viewer.country),
                    grievance=grievance,
                )
            ]
        transfer = {
            "destinationCountry": "DE",
            "recipient": "EU analytics GmbH",
            "mechanism": "adequacy",
            "recordCount": self.rng.randint(10, 10_000),
        }
        return [self._event(world, event_type, moment, transfer=transfer)]

    def _ad_breaks(self, world: TenantWorld, moment: datetime) -> list[Event]:
        """A pod of 2-5 spots on each channel whose break is due."""
        events: list[Event] = []
        for channel in world.channels:
            if self._next_break[channel] <= moment:
                self._next_break[channel] = moment + timedelta(minutes=self.rng.uniform(12, 18))
                events += [
                    self._ad(world, moment + timedelta(seconds=20 * i), channel)
                    for i in range(self.rng.randint(2, 5))
                ]
        return events

    # --- injected violations -----------------------------------------------------------

    def _kids_ad(self, world: TenantWorld, moment: datetime) -> Event:
        event = self._ad(world, moment)
        viewer = self._viewer(world, moment, kids=True)
        event["viewer"] = viewer.document()
        event["geo"] = self._geo(self.rng.choice(("US", viewer.country)))
        return event

    def _targeted_ad_to_kid(self, world: TenantWorld, moment: datetime) -> list[Event]:
        event = self._kids_ad(world, moment)
        event["ad"]["targeted"] = True
        return [event]

    def _alcohol_ad_to_kid(self, world: TenantWorld, moment: datetime) -> list[Event]:
        event = self._kids_ad(world, moment)
        event["ad"]["category"] = "alcohol"
        return [event]

    def _outside_territory(self, world: TenantWorld, moment: datetime) -> list[Event]:
        event = self._playback(world, moment, "playback.start")
        territories = event["content"]["licence"]["territories"]
        outside = [r.country for r in REGIONS if r.country not in territories]
        event["geo"]["country"] = self.rng.choice(outside or ["KP"])
        return [event]

    def _after_window(self, world: TenantWorld, moment: datetime) -> list[Event]:
        event = self._playback(world, moment, "playback.start")
        event["content"]["licence"]["windowEnd"] = _stamp(
            moment - timedelta(days=self.rng.randint(1, 30))
        )
        return [event]

    def _pre_ticked_consent(self, world: TenantWorld, moment: datetime) -> list[Event]:
        viewer = self._viewer(world, moment, kids=False)
        consent = {
            "purposes": ["advertising", "analytics"],
            "granted": True,
            "method": "pre_ticked",
            "policyVersion": "2026-03",
            "recordId": f"cr-{self._counter}",
        }
        return [
            self._event(
                world,
                "consent.update",
                moment,
                viewer={"id": viewer.id},
                geo=self._geo(self.rng.choice(["DE", "FR", "ES"])),
                consent=consent,
            )
        ]

    def _unsafe_transfer(self, world: TenantWorld, moment: datetime) -> list[Event]:
        transfer = {
            "destinationCountry": "US",
            "recipient": "Ad Metrics Inc",
            "mechanism": "none",
            "recipientDpfCertified": False,
            "recordCount": 50_000,
        }
        return [self._event(world, "data.transfer", moment, geo=self._geo("DE"), transfer=transfer)]

    def _unrated_publish(self, world: TenantWorld, moment: datetime) -> list[Event]:
        content = self.rng.choice(world.titles).document()
        content.pop("rating")
        return [self._event(world, "content.publish", moment, content=content)]

    def _child_signup(self, world: TenantWorld, moment: datetime) -> list[Event]:
        viewer = self._viewer(world, moment, kids=True).document()
        country = self.rng.choice(("US", "FR", "DE"))
        viewer.update(
            {"age": 11, "parentalConsent": False, "parentalConsentMethod": None, "country": country}
        )
        signup = {"fieldsCollected": ["email", "name", "birthdate", "phone"], "method": "app"}
        return [
            self._event(
                world, "account.signup", moment, viewer=viewer, geo=self._geo("US"), signup=signup
            )
        ]

    def _ad_overload(self, world: TenantWorld, moment: datetime) -> list[Event]:
        """An extra pod of long spots on the tenant's first channel, the one whose sales
        team keeps overbooking it: a few of these in an hour break the hourly ad limit."""
        channel = world.channels[0]
        pod = [self._ad(world, moment + timedelta(seconds=30 * i), channel) for i in range(6)]
        for event in pod:
            event["ad"]["durationSeconds"] = 30.0
        return pod

    # --- public ---------------------------------------------------------------------------

    def _maybe_anomaly(self, moment: datetime) -> None:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        if hour != self._last_hour:
            self._last_hour = hour
            if self.rng.random() < self.anomaly_rate:
                tenant = self.rng.choice(list(self.worlds))
                country = self.rng.choice([r.country for r in REGIONS])
                self._burst = Burst(tenant, country, moment + timedelta(minutes=10))
                self.stats.anomalies += 1
        if self._burst is not None and moment >= self._burst.until:
            self._burst = None

    def events_at(self, moment: datetime, count: int) -> dict[str, list[Event]]:
        """About ``count`` events around ``moment``, by tenant (ad pods can add a few)."""
        self._maybe_anomaly(moment)
        batches: dict[str, list[Event]] = {t: [] for t in self.worlds}
        for _ in range(count):
            tenant = self.rng.choice(list(self.worlds))
            world = self.worlds[tenant]
            at = moment + timedelta(milliseconds=self.rng.randint(0, 999))
            if self.rng.random() < self.violation_rate:
                name, inject = self.rng.choice(self._injections)
                self.stats.injected[name] += 1
                batches[tenant].extend(inject(world, at))
            elif (
                self._burst is not None and self._burst.tenant == tenant and self.rng.random() < 0.5
            ):
                batches[tenant].append(
                    self._playback(world, at, "playback.heartbeat", self._burst.country, proxy=True)
                )
            else:
                batches[tenant].extend(self._ordinary(world, at))
        return batches
