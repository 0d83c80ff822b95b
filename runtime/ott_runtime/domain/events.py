"""The OTT event model (``specVersion: "1"``): what tenant apps send and rules read.

Every event is an envelope (id, type, time) with typed sections; each event type is one
model that says which sections it requires. Strings are bounded and unknown fields are
rejected, so a batch that validates has a known worst-case size. Rules read events as
plain JSON (``event.viewer.age``); ``to_rule_input`` gives that form.

Every optional field is ``X | None``, so ``null`` already means "not set" and the models
need no null-pruning pass (they are StrictModels, not SpecModels: validation runs per event).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import Field, StringConstraints, TypeAdapter

from ott_runtime.domain.base import StrictModel
from ott_runtime.domain.instants import Instant

SPEC_VERSION = "1"
# RFC 3339 with an offset whose UTC form exists (years 0001-9999), shared with the query
# parameters and GraphQL so that no instant a client sends can overflow further in
Timestamp = Instant

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _f(description: str, **kwargs: Any) -> Any:
    """A documented optional field (``None`` = not known to the sender)."""
    kwargs.setdefault("default", None)
    return Field(description=description, **kwargs)


class Viewer(StrictModel):
    id: Identifier | None = _f("Tenant's viewer (profile) id; encrypted at rest if configured.")
    account_id: Identifier | None = _f("Account the profile belongs to.")
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None
    ) = _f("Viewer e-mail; personal data, normally an encrypted field.")
    age: int | None = _f("Age in years as declared or verified.", ge=0, le=130)
    country: Country | None = _f("Country of residence of the account (ISO 3166-1 alpha-2).")
    is_kids_profile: bool | None = _f("The profile is a children's profile.")
    parental_consent: bool | None = _f("A parent or guardian consented for this viewer.")
    parental_consent_method: Tag | None = _f(
        "How parental consent was obtained, e.g. signed_form, credit_card_transaction, "
        "government_id, video_conference, knowledge_based_questions, email_plus."
    )
    age_verified: bool | None = _f("Age was verified by a reliable mechanism (not self-declared).")
    parental_lock_enabled: bool | None = _f("A parental lock (PIN) protects this profile.")
    consented_purposes: list[Tag] | None = _f(
        "Purposes the viewer consented to, e.g. analytics, advertising, personalisation.",
        max_length=32,
    )


class Device(StrictModel):
    id: Identifier | None = _f("Device id assigned by the tenant's app.")
    ip: Annotated[str, StringConstraints(max_length=45)] | None = _f("Client IP address.")
    type: Tag | None = _f("Device class: tv, mobile, tablet, web, console, set_top_box.")
    os: ShortText | None = _f("Operating system and version.")
    ad_id_shared: bool | None = _f("An advertising identifier (IDFA/AAID) is read and shared.")
    analytics_enabled: bool | None = _f("Non-essential analytics SDKs are active on the device.")


class Geo(StrictModel):
    country: Country | None = _f("Country the request comes from (IP geolocation).")
    region: ShortText | None = _f("Region or state (ISO 3166-2 subdivision), if known.")
    is_proxy: bool | None = _f("The IP is a known VPN, proxy or anonymiser.")


class Licence(StrictModel):
    territories: list[Country] | None = _f("Countries the title is licensed in.", max_length=250)
    excluded_territories: list[Country] | None = _f(
        "Countries explicitly held back (blackouts), even if otherwise licensed.", max_length=250
    )
    window_start: Timestamp | None = _f("Start of the licence window (RFC 3339).")
    window_end: Timestamp | None = _f("End of the licence window (RFC 3339).")
    requires_geo_verification: bool | None = _f("Licence requires VPN/proxy blocking.")


class Content(StrictModel):
    id: Identifier | None = _f("Title id in the tenant's catalogue.")
    title: Text | None = _f("Title as shown to viewers.")
    rating: ShortText | None = _f(
        "Age rating as displayed: U, U/A 7+, U/A 13+, U/A 16+, A (India); TV-Y, TV-14, TV-MA..."
    )
    content_descriptors: list[Tag] | None = _f(
        "Content descriptors shown with the rating: violence, language, sex, drugs...",
        max_length=16,
    )
    channel_id: Identifier | None = _f("Linear channel carrying it, for scheduled streams.")
    origin_country: Country | None = _f("Country of production.")
    is_european_work: bool | None = _f("Qualifies as a European work (AVMSD Art. 1(1)(n)).")
    made_for_kids: bool | None = _f("Directed to children (child-directed service content).")
    duration_seconds: int | None = _f("Running time in seconds.", ge=0, le=1_000_000)
    captions_available: bool | None = _f("Closed captions are available for this title.")
    aired_on_us_tv_with_captions: bool | None = _f(
        "Shown on US television with captions (triggers 47 CFR 79.4)."
    )
    us_tv_air_time: Timestamp | None = _f("When it was (last) shown on US TV with captions.")
    production_type: Literal["prerecorded", "live", "near_live"] | None = _f(
        "prerecorded, live or near_live (recorded within 24 h of airing)."
    )
    first_online_at: Timestamp | None = _f("When it was first made available online.")
    is_clip: bool | None = _f("A clip of a longer programme.")
    licence: Licence | None = _f("Licence territories and window.")


class Playback(StrictModel):
    session_id: Identifier | None = _f("Playback session id.")
    position_seconds: int | None = _f("Position in the title in seconds.", ge=0, le=1_000_000)
    watched_seconds: int | None = _f("Seconds watched since the last heartbeat.", ge=0, le=86400)
    captions_enabled: bool | None = _f("The viewer turned captions on.")
    bitrate_kbps: int | None = _f("Current bitrate in kbit/s.", ge=0, le=1_000_000)


class Ad(StrictModel):
    id: Identifier | None = _f("Ad (creative) id.")
    campaign_id: Identifier | None = _f("Campaign id.")
    advertiser: Text | None = _f("Advertiser name.")
    duration_seconds: float | None = _f("Length of the spot in seconds.", ge=0, le=7200)
    targeted: bool | None = _f("Personalised using the viewer's profile or tracking data.")
    category: Tag | None = _f("Product category: alcohol, tobacco, gambling, hfss_food, ...")
    format: Literal["spot", "product_placement", "sponsorship", "teleshopping"] | None = _f(
        "spot, product_placement, sponsorship or teleshopping."
    )
    position: Literal["preroll", "midroll", "postroll", "overlay"] | None = _f(
        "Where in the programme it ran."
    )


class Consent(StrictModel):
    purposes: list[Tag] = Field(
        min_length=1, max_length=32, description="Purposes this update is about."
    )
    granted: bool = Field(description="true: consent given; false: refused or withdrawn.")
    method: Tag | None = _f(
        "How it was expressed: explicit_opt_in, pre_ticked, implied, scroll, parental."
    )
    policy_version: ShortText | None = _f("Version of the privacy notice shown.")
    record_id: Identifier | None = _f("Id of the stored consent record (proof, GDPR Art. 7(1)).")
    cmp_id: ShortText | None = _f("Consent management platform id.")


class Transfer(StrictModel):
    id: Identifier | None = _f("Transfer (job or export) id.")
    destination_country: Country = Field(description="Country the personal data goes to.")
    recipient: Text | None = _f("Recipient organisation.")
    mechanism: Literal["adequacy", "scc", "bcr", "derogation", "none"] | None = _f(
        "Legal transfer mechanism (GDPR Art. 45, 46(2)(c), 47, 49)."
    )
    recipient_dpf_certified: bool | None = _f("US recipient certified under the EU-US DPF.")
    tia_completed: bool | None = _f("A transfer impact assessment was done (Schrems II).")
    data_categories: list[Tag] | None = _f("Categories of personal data sent.", max_length=32)
    record_count: int | None = _f("Number of records sent.", ge=0, le=10**12)


class Grievance(StrictModel):
    id: Identifier = Field(description="Grievance id (the complainant's reference).")
    category: Tag | None = _f("Subject: content, privacy, billing, accessibility, ...")
    filed_at: Timestamp = Field(description="When the complaint was received.")
    acknowledged_at: Timestamp | None = _f("When it was acknowledged to the complainant.")
    resolved_at: Timestamp | None = _f("When a decision was communicated.")
    content_id: Identifier | None = _f("Title the grievance is about, if any.")


class Signup(StrictModel):
    fields_collected: list[Tag] | None = _f(
        "Personal data fields collected at signup: email, name, birthdate, phone, address...",
        max_length=32,
    )
    method: Tag | None = _f("Signup channel: web, app, tv, partner.")


class EventBase(StrictModel):
    """The envelope every event shares."""

    spec_version: Literal["1"] = Field(description="Version of this event schema: 1.")
    id: Identifier = Field(description="Sender-chosen unique event id (idempotency key).")
    time: Timestamp = Field(description="When it happened (RFC 3339 with offset).")
    viewer: Viewer | None = _f("Who: the viewer profile.")
    device: Device | None = _f("Which device.")
    geo: Geo | None = _f("Where the request came from.")
    content: Content | None = _f("Which title.")


class PlaybackStart(EventBase):
    type: Literal["playback.start"] = Field(description="A title started playing.")
    content: Content = Field(description="The title played.")
    playback: Playback | None = _f("Playback session details.")


class PlaybackHeartbeat(EventBase):
    type: Literal["playback.heartbeat"] = Field(description="Periodic playback progress.")
    content: Content = Field(description="The title playing.")
    playback: Playback = Field(description="Playback progress.")


class ContentPublish(EventBase):
    type: Literal["content.publish"] = Field(description="A title was added or updated.")
    content: Content = Field(description="The title published.")


class AdImpression(EventBase):
    type: Literal["ad.impression"] = Field(description="An ad was shown.")
    ad: Ad = Field(description="The ad.")


class AccountSignup(EventBase):
    type: Literal["account.signup"] = Field(description="An account or profile was created.")
    viewer: Viewer = Field(description="The new viewer profile.")
    signup: Signup | None = _f("What was collected and how.")


class ConsentUpdate(EventBase):
    type: Literal["consent.update"] = Field(description="Consent given, refused or withdrawn.")
    consent: Consent = Field(description="The consent decision.")


class DataTransfer(EventBase):
    type: Literal["data.transfer"] = Field(description="Personal data sent to another party.")
    transfer: Transfer = Field(description="Where it went and under which mechanism.")


class GrievanceFiled(EventBase):
    type: Literal["grievance.filed"] = Field(description="A viewer complaint was received.")
    grievance: Grievance = Field(description="The complaint.")


class GrievanceAcknowledged(EventBase):
    type: Literal["grievance.acknowledged"] = Field(description="A complaint was acknowledged.")
    grievance: Grievance = Field(description="The complaint, with acknowledgedAt.")


class GrievanceResolved(EventBase):
    type: Literal["grievance.resolved"] = Field(description="A complaint was decided.")
    grievance: Grievance = Field(description="The complaint, with resolvedAt.")


EVENT_MODELS: dict[str, type[EventBase]] = {
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in (
        PlaybackStart,
        PlaybackHeartbeat,
        ContentPublish,
        AdImpression,
        AccountSignup,
        ConsentUpdate,
        DataTransfer,
        GrievanceFiled,
        GrievanceAcknowledged,
        GrievanceResolved,
    )
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_MODELS)

Event: TypeAlias = Annotated[
    PlaybackStart
    | PlaybackHeartbeat
    | ContentPublish
    | AdImpression
    | AccountSignup
    | ConsentUpdate
    | DataTransfer
    | GrievanceFiled
    | GrievanceAcknowledged
    | GrievanceResolved,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: Any) -> EventBase:
    """Validate one event (a dict or JSON bytes/str); raises pydantic.ValidationError."""
    if isinstance(data, str | bytes):
        return _EVENT_ADAPTER.validate_json(data)
    return _EVENT_ADAPTER.validate_python(data)


def to_rule_input(event: EventBase) -> dict[str, Any]:
    """The JSON form rules see: camelCase keys, RFC 3339 strings, unknown fields absent."""
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def event_json_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one event type; KeyError for an unknown type."""
    model = EVENT_MODELS[event_type]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:ott-compliance:events:v{SPEC_VERSION}:{event_type}"
    schema["title"] = event_type
    return schema


SCHEMA_DIR = Path(__file__).parent / "schemas" / "events" / f"v{SPEC_VERSION}"


def render_event_schemas() -> dict[str, str]:
    """File name -> JSON text of every event type's schema (the checked-in files)."""
    return {
        f"{event_type}.json": json.dumps(event_json_schema(event_type), indent=2, sort_keys=True)
        + "\n"
        for event_type in EVENT_TYPES
    }


def write_event_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the checked-in schema files (``python -m ott_runtime.domain.events``)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_event_schemas().items():
        (directory / name).write_text(text, encoding="utf-8")
        written.append(directory / name)
    return written


if __name__ == "__main__":
    for path in write_event_schemas():
        print(path)
