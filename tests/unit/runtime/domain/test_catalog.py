"""Every catalog rule compiles, and for every rule one realistic event fires it and a close
variant does not. Events are validated against the event model before they are scored."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ott_runtime.domain.aggregates import WindowAggregator
from ott_runtime.domain.documents import load_resources
from ott_runtime.domain.events import parse_event, to_rule_input
from ott_runtime.domain.merge_patch import merge_patch
from ott_runtime.domain.rules import compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec

REPO = Path(__file__).resolve().parents[4]
SETS, TENANTS = load_resources(
    [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"]
)
T = "2026-11-26T14:00:00Z"

BASE: dict[str, dict[str, Any]] = {
    "playback.start": {
        "viewer": {
            "id": "v1",
            "accountId": "a1",
            "age": 30,
            "country": "DE",
            "consentedPurposes": ["analytics", "advertising"],
        },
        "device": {"id": "d1", "type": "tv"},
        "geo": {"country": "DE"},
        "content": {
            "id": "c1",
            "rating": "U/A 7+",
            "licence": {
                "territories": ["DE", "IN", "US"],
                "windowStart": "2026-01-01T00:00:00Z",
                "windowEnd": "2027-01-01T00:00:00Z",
            },
        },
    },
    "ad.impression": {
        "viewer": {"id": "v1", "age": 30, "consentedPurposes": ["advertising"]},
        "geo": {"country": "DE"},
        "content": {"id": "c1", "channelId": "ch1", "madeForKids": False, "durationSeconds": 3600},
        "ad": {
            "id": "ad1",
            "durationSeconds": 30,
            "targeted": False,
            "category": "cars",
            "format": "spot",
            "position": "preroll",
        },
    },
    "content.publish": {
        "content": {
            "id": "c1",
            "rating": "U/A 13+",
            "contentDescriptors": ["violence"],
            "licence": {
                "territories": ["IN"],
                "windowStart": "2026-01-01T00:00:00Z",
                "windowEnd": "2027-01-01T00:00:00Z",
            },
        },
    },
    "account.signup": {
        "viewer": {"id": "v1", "age": 30, "country": "DE"},
        "geo": {"country": "DE"},
        "signup": {"fieldsCollected": ["email"]},
    },
    "consent.update": {
        "viewer": {"id": "v1"},
        "consent": {
            "purposes": ["advertising"],
            "granted": True,
            "method": "explicit_opt_in",
            "recordId": "r1",
            "policyVersion": "2026-01",
        },
    },
    "data.transfer": {
        "transfer": {"destinationCountry": "JP", "mechanism": "adequacy", "recipient": "CDN KK"},
    },
    "grievance.acknowledged": {
        "grievance": {
            "id": "g1",
            "filedAt": "2026-11-26T00:00:00Z",
            "acknowledgedAt": "2026-11-26T10:00:00Z",
        },
    },
    "grievance.resolved": {
        "grievance": {
            "id": "g1",
            "filedAt": "2026-11-20T00:00:00Z",
            "acknowledgedAt": "2026-11-20T10:00:00Z",
            "resolvedAt": T,
        },
    },
    "grievance.filed": {"grievance": {"id": "g1", "filedAt": T, "contentId": "c1"}},
}
FCC_CONTENT = {
    "id": "c9",
    "airedOnUsTvWithCaptions": True,
    "captionsAvailable": False,
    "productionType": "prerecorded",
    "usTvAirTime": "2026-11-20T00:00:00Z",
    "firstOnlineAt": "2026-11-21T00:00:00Z",
}


merge = merge_patch


def event(event_type: str, patch: dict[str, Any], time: str = T) -> dict[str, Any]:
    doc = merge(
        {
            "specVersion": "1",
            "id": "e1",
            "type": event_type,
            "time": time,
            **BASE.get(event_type, {}),
        },
        patch,
    )
    return to_rule_input(parse_event(doc))  # the model accepts it: a realistic event


# (set, rule, event type, patch that fires, patch that does not, aggregates or None)
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any], dict[str, Any] | None]] = [
    ("gdpr", "targeted-ad-without-consent", "ad.impression",
     {"ad": {"targeted": True}, "viewer": {"consentedPurposes": ["analytics"]}},
     {"ad": {"targeted": True}}, None),
    ("gdpr", "tracking-without-consent", "playback.start",
     {"device": {"analyticsEnabled": True}, "viewer": {"consentedPurposes": []}},
     {"device": {"analyticsEnabled": True}}, None),
    ("gdpr", "invalid-consent-method", "consent.update",
     {"consent": {"method": "pre_ticked"}}, {}, None),
    ("gdpr", "consent-not-provable", "consent.update",
     {"consent": {"recordId": None}}, {}, None),
    ("gdpr", "consent-after-repeated-refusals", "consent.update", {}, {},
     {"hit": {"consentRefusalsLast30d": 3}, "miss": {"consentRefusalsLast30d": 1}}),
    ("gdpr", "child-signup-without-parental-consent", "account.signup",
     {"viewer": {"age": 14}, "geo": {"country": "FR"}},
     {"viewer": {"age": 14}, "geo": {"country": "IT"}}, None),
    ("gdpr", "transfer-without-safeguard", "data.transfer",
     {"transfer": {"destinationCountry": "IN", "mechanism": "none"}},
     {"transfer": {"destinationCountry": "IN", "mechanism": "scc"}}, None),
    ("gdpr", "us-transfer-without-dpf-or-safeguard", "data.transfer",
     {"transfer": {"destinationCountry": "US", "recipientDpfCertified": False}},
     {"transfer": {"destinationCountry": "US", "recipientDpfCertified": True}}, None),
    ("gdpr", "safeguard-without-transfer-impact-assessment", "data.transfer",
     {"transfer": {"destinationCountry": "BR", "mechanism": "scc"}},
     {"transfer": {"destinationCountry": "BR", "mechanism": "scc", "tiaCompleted": True}}, None),
    ("coppa", "child-signup-without-verifiable-consent", "account.signup",
     {"geo": {"country": "US"}, "viewer": {"age": 9, "parentalConsent": True,
                                           "parentalConsentMethod": "email_plus"}},
     {"geo": {"country": "US"}, "viewer": {"age": 9, "parentalConsent": True,
                                           "parentalConsentMethod": "signed_form"}}, None),
    ("coppa", "child-signup-excess-data", "account.signup",
     {"viewer": {"age": 10}, "signup": {"fieldsCollected": ["first_name", "phone"]}},
     {"viewer": {"age": 10}, "signup": {"fieldsCollected": ["first_name", "birthdate"]}}, None),
    ("coppa", "targeted-ad-to-child", "ad.impression",
     {"geo": {"country": "US"}, "viewer": {"isKidsProfile": True}, "ad": {"targeted": True}},
     {"geo": {"country": "US"}, "viewer": {"isKidsProfile": True}}, None),
    ("coppa", "targeted-ad-on-child-directed-content", "ad.impression",
     {"geo": {"country": "US"}, "content": {"madeForKids": True}, "ad": {"targeted": True}},
     {"geo": {"country": "GB"}, "content": {"madeForKids": True}, "ad": {"targeted": True}}, None),
    ("coppa", "persistent-identifier-on-kids-profile", "playback.start",
     {"geo": {"country": "US"}, "viewer": {"isKidsProfile": True}, "device": {"adIdShared": True}},
     {"geo": {"country": "US"}, "viewer": {"isKidsProfile": True}, "device": {"adIdShared": False}},
     None),
    ("eu-avmsd", "ad-time-limit", "ad.impression", {}, {},
     {"hit": {"adSecondsLastHour": 750.0}, "miss": {"adSecondsLastHour": 700.0}}),
    ("eu-avmsd", "ad-share-daytime", "ad.impression", {}, {},
     {"hit": {"adSecondsDaytime": 9000.0}, "miss": {"adSecondsDaytime": 8000.0}}),
    ("eu-avmsd", "ad-share-prime-time", "ad.impression", {"time": "2026-11-26T20:00:00+01:00"},
     {"time": "2026-11-26T16:00:00+01:00"},
     {"hit": {"adSecondsPrimeTime": 4500.0}, "miss": {"adSecondsPrimeTime": 4500.0}}),
    ("eu-avmsd", "european-works-share", "content.publish", {}, {},
     {"hit": {"europeanWorks": 20, "catalogueTitles": 100},
      "miss": {"europeanWorks": 35, "catalogueTitles": 100}}),
    ("eu-avmsd", "rating-missing", "content.publish", {"content": {"rating": None}}, {}, None),
    ("eu-avmsd", "adult-content-on-kids-profile", "playback.start",
     {"content": {"rating": "18"}, "viewer": {"isKidsProfile": True}},
     {"content": {"rating": "18"}, "viewer": {"isKidsProfile": False}}, None),
    ("eu-avmsd", "product-placement-in-childrens-programme", "ad.impression",
     {"ad": {"format": "product_placement"}, "content": {"madeForKids": True}},
     {"ad": {"format": "product_placement"}}, None),
    ("eu-avmsd", "childrens-programme-interrupted", "ad.impression",
     {"ad": {"position": "midroll"}, "content": {"madeForKids": True, "durationSeconds": 1320}},
     {"ad": {"position": "midroll"}, "content": {"madeForKids": True, "durationSeconds": 2700}},
     None),
    ("eu-avmsd", "prohibited-ad-category", "ad.impression", {"ad": {"category": "tobacco"}},
     {"ad": {"category": "soft_drinks"}}, None),
    ("eu-avmsd", "minor-sensitive-ad-to-children", "ad.impression",
     {"ad": {"category": "alcohol"}, "viewer": {"isKidsProfile": True}},
     {"ad": {"category": "alcohol"}}, None),
    ("india-it-rules-2021", "rating-not-in-classification", "content.publish",
     {"content": {"rating": "PG-13"}}, {"content": {"rating": "U/A 13+"}}, None),
    ("india-it-rules-2021", "content-descriptor-missing", "content.publish",
     {"content": {"contentDescriptors": []}}, {}, None),
    ("india-it-rules-2021", "ua13-without-parental-lock", "playback.start",
     {"geo": {"country": "IN"}, "content": {"rating": "U/A 13+"}, "viewer": {"age": 11}},
     {"geo": {"country": "IN"}, "content": {"rating": "U/A 13+"},
      "viewer": {"age": 11, "parentalLockEnabled": True}}, None),
    ("india-it-rules-2021", "adult-content-without-age-verification", "playback.start",
     {"geo": {"country": "IN"}, "content": {"rating": "A"}},
     {"geo": {"country": "IN"}, "content": {"rating": "A"}, "viewer": {"ageVerified": True}}, None),
    ("india-it-rules-2021", "adult-content-to-minor", "playback.start",
     {"geo": {"country": "IN"}, "content": {"rating": "A"}, "viewer": {"age": 16}},
     {"geo": {"country": "IN"}, "content": {"rating": "A"}, "viewer": {"age": 19}}, None),
    ("india-it-rules-2021", "grievance-acknowledgement-late", "grievance.acknowledged",
     {"grievance": {"acknowledgedAt": "2026-11-27T06:00:00Z"}}, {}, None),
    ("india-it-rules-2021", "grievance-resolution-late", "grievance.resolved",
     {"grievance": {"filedAt": "2026-11-01T00:00:00Z", "acknowledgedAt": "2026-11-01T05:00:00Z"}},
     {}, None),
    ("india-it-rules-2021", "title-drawing-repeated-grievances", "grievance.filed", {}, {},
     {"hit": {"grievancesPerTitleLast30d": 12}, "miss": {"grievancesPerTitleLast30d": 2}}),
    ("geo-licensing", "playback-outside-licensed-territory", "playback.start",
     {"geo": {"country": "BR"}, "viewer": {"country": "BR"}},
     {"geo": {"country": "FR"}, "viewer": {"country": "DE"}}, None),
    ("geo-licensing", "playback-in-holdback-territory", "playback.start",
     {"content": {"licence": {"excludedTerritories": ["DE"]}}},
     {"content": {"licence": {"excludedTerritories": ["AT"]}}}, None),
    ("geo-licensing", "playback-before-licence-window", "playback.start",
     {"content": {"licence": {"windowStart": "2026-12-01T00:00:00Z"}}}, {}, None),
    ("geo-licensing", "playback-after-licence-window", "playback.start",
     {"content": {"licence": {"windowEnd": "2026-11-01T00:00:00Z"}}}, {}, None),
    ("geo-licensing", "published-with-invalid-window", "content.publish",
     {"content": {"licence": {"windowEnd": "2025-12-31T00:00:00Z"}}}, {}, None),
    ("geo-licensing", "playback-through-proxy", "playback.start",
     {"geo": {"isProxy": True}, "content": {"licence": {"requiresGeoVerification": True}}},
     {"geo": {"isProxy": True}, "content": {"licence": {"requiresGeoVerification": False}}},
     None),
    ("geo-licensing", "device-limit-exceeded", "playback.start", {}, {},
     {"hit": {"devicesPerAccountLast3h": 6}, "miss": {"devicesPerAccountLast3h": 2}}),
    ("geo-licensing", "account-country-hopping", "playback.start", {}, {},
     {"hit": {"countriesPerAccountLast24h": 5}, "miss": {"countriesPerAccountLast24h": 1}}),
    ("fcc-captioning", "prerecorded-without-captions", "content.publish",
     {"content": FCC_CONTENT}, {"content": {**FCC_CONTENT, "captionsAvailable": True}}, None),
    ("fcc-captioning", "live-without-captions-after-12h", "content.publish",
     {"content": {**FCC_CONTENT, "productionType": "live", "usTvAirTime": "2026-11-26T01:00:00Z"}},
     {"content": {**FCC_CONTENT, "productionType": "live", "usTvAirTime": "2026-11-26T06:00:00Z"}},
     None),
    ("fcc-captioning", "near-live-without-captions-after-8h", "content.publish",
     {"content": {**FCC_CONTENT, "productionType": "near_live",
                  "usTvAirTime": "2026-11-26T05:00:00Z"}},
     {"content": {**FCC_CONTENT, "productionType": "near_live",
                  "usTvAirTime": "2026-11-26T07:00:00Z"}}, None),
    ("fcc-captioning", "archival-without-captions-after-15-days", "content.publish",
     {"content": {**FCC_CONTENT, "firstOnlineAt": "2020-01-01T00:00:00Z",
                  "usTvAirTime": "2026-11-01T00:00:00Z"}},
     {"content": {**FCC_CONTENT, "firstOnlineAt": "2020-01-01T00:00:00Z",
                  "usTvAirTime": "2026-11-20T00:00:00Z"}}, None),
    ("fcc-captioning", "clip-without-captions", "content.publish",
     {"content": {**FCC_CONTENT, "isClip": True}},
     {"content": {**FCC_CONTENT, "isClip": False}}, None),
]  # fmt: skip


def compiled_set(name: str) -> Any:
    spec = ComplianceTenantSpec.model_validate(
        {"displayName": "t", "regulations": [{"name": name}]}
    )
    return compile_rules(resolve_rules(spec, SETS))


COMPILED = {name: compiled_set(name) for name in SETS}


def test_catalog_has_the_six_sets_and_at_least_30_rules() -> None:
    assert set(SETS) == {"gdpr", "coppa", "eu-avmsd", "india-it-rules-2021", "geo-licensing",
                         "fcc-captioning"}  # fmt: skip
    assert sum(len(s.spec.rules) for s in SETS.values()) >= 30
    assert all(rule.reference for s in SETS.values() for rule in s.spec.rules)


def test_every_rule_has_a_case() -> None:
    covered = {(s, r) for s, r, *_ in CASES}
    every = {(s.name, rule.id) for s in SETS.values() for rule in s.spec.rules}
    assert every - covered == set()


def test_example_tenants_resolve_and_compile() -> None:
    assert len(TENANTS) >= 4
    for tenant in TENANTS.values():
        compiled = compile_rules(resolve_rules(tenant.spec, SETS))
        assert compiled.resolved.rules


def _hits(set_name: str, doc: dict[str, Any], aggregates: dict[str, Any] | None) -> list[str]:
    values = {set_name: aggregates} if aggregates else None
    return [h.rule_id for h in COMPILED[set_name].evaluate(doc, values)]


@pytest.mark.parametrize(
    ("set_name", "rule_id", "event_type", "fires", "quiet", "aggregates"),
    CASES,
    ids=[f"{s}/{r}" for s, r, *_ in CASES],
)
def test_rule_fires_and_stays_quiet(
    set_name: str, rule_id: str, event_type: str, fires: dict[str, Any], quiet: dict[str, Any],
    aggregates: dict[str, Any] | None,
) -> None:  # fmt: skip
    hit_time = fires.pop("time", T) if "time" in fires else T
    miss_time = quiet.pop("time", T) if "time" in quiet else T
    hit_event = event(event_type, fires, hit_time)
    miss_event = event(event_type, quiet, miss_time)
    assert rule_id in _hits(set_name, hit_event, aggregates and aggregates["hit"])
    assert rule_id not in _hits(set_name, miss_event, aggregates and aggregates["miss"])
    stats = COMPILED[set_name].stats
    assert stats.errors[f"{set_name}/{rule_id}"] == 0, stats.last_error


def _feed(tenant_spec: dict[str, Any], events: list[dict[str, Any]]) -> list[list[str]]:
    resolved = resolve_rules(ComplianceTenantSpec.model_validate(tenant_spec), SETS)
    compiled, windows = compile_rules(resolved), WindowAggregator.for_rules(resolved)
    return [[h.rule_id for h in compiled.evaluate(e, windows.observe(e))] for e in events]


def test_avmsd_hourly_limit_through_the_windows() -> None:
    spots = [
        event("ad.impression", {"ad": {"durationSeconds": 30}}, f"2026-11-26T10:{m:02d}:00+01:00")
        for m in range(0, 50, 2)
    ]  # 25 spots of 30 s within 50 minutes: 750 s > 720 s on the 25th
    hits = _feed({"displayName": "t", "regulations": [{"name": "eu-avmsd"}]}, spots)
    assert ["ad-time-limit" in h for h in hits] == [False] * 24 + [True]
    # A tenant override of the limit moves the point where it fires.
    stricter = {"displayName": "t", "regulations": [
        {"name": "eu-avmsd", "parameters": {"adSecondsPerHourMax": 600}}]}  # fmt: skip
    hits = _feed(stricter, spots)
    assert ["ad-time-limit" in h for h in hits] == [False] * 20 + [True] * 5


def test_european_works_share_over_a_catalogue() -> None:
    titles = [
        event("content.publish", {"content": {"id": f"t{i}", "isEuropeanWork": i % 4 == 0}})
        for i in range(60)
    ]  # 15 of 60 European (25 %): fires once the catalogue reaches 50 titles
    hits = _feed({"displayName": "t", "regulations": [{"name": "eu-avmsd"}]}, titles)
    fired = [i for i, h in enumerate(hits) if "european-works-share" in h]
    assert fired == list(range(49, 60))


SCENARIO = [
    json.loads(line)
    for line in (REPO / "examples" / "events" / "scenario.jsonl").read_text().splitlines()
    if line.strip()
]
ALL_SETS = compile_rules(
    resolve_rules(
        ComplianceTenantSpec.model_validate(
            {"displayName": "all", "regulations": [{"name": n} for n in sorted(SETS)]}
        ),
        SETS,
    )
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _valid_time(value: Any) -> bool:
    try:
        parse_event({"specVersion": "1", "id": "x", "type": "grievance.filed", "time": value,
                     "grievance": {"id": "g", "filedAt": "2026-01-01T00:00:00Z"}})  # fmt: skip
    except ValueError:
        return False
    return True


json_leaf = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=6)
    | st.floats(allow_nan=False) | st.lists(st.text(max_size=3), max_size=2)
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_mutation_of_a_scenario_event_is_scored_without_raising(data: st.DataObject) -> None:
    event = copy.deepcopy(data.draw(st.sampled_from(SCENARIO)))
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_leaves(event)))
        if not path or path[0] == "type":
            continue
        target = event
        for part in path[:-1]:
            target = target[part]
        if data.draw(st.booleans()) and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = data.draw(json_leaf)
    values = None
    if _valid_time(event.get("time")):  # the windows need a time; the rules do not
        values = WindowAggregator.for_rules(ALL_SETS.resolved).observe(event)
    hits = ALL_SETS.evaluate(event, values)
    allowed = {r.qualified_id for r in ALL_SETS.rules_for(event["type"])}
    assert {h.qualified_id for h in hits} <= allowed
