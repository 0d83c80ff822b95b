"""The span attributes the project may set: one allow-list, so nothing else can leak.

Spans leave the process (to Jaeger or any OTLP backend), so they must never carry key
material or personal data. Every project span goes through :func:`safe_attributes`,
which accepts only the names below and only scalar values (or lists of scalars). An
unknown name is a programming error and raises, so a new attribute is added here, on
purpose, with a reason, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry.util.types import AttributeValue

TENANT: Final = "ottc.tenant"  # the ComplianceTenant name (not personal data)
EVENT_COUNT: Final = "ottc.event.count"
EVENT_TYPES: Final = "ottc.event.types"  # event type names such as "ad.impression"
DUPLICATE_COUNT: Final = "ottc.event.duplicates"
RULE_EVALUATIONS: Final = "ottc.rule.evaluations"
RULE_IDS_HIT: Final = "ottc.rule.ids_hit"  # rule ids of the tenant's regulations
VIOLATION_COUNT: Final = "ottc.violation.count"
MODEL_NAME: Final = "ottc.model.name"
MODEL_VERSION: Final = "ottc.model.version"
KEY_ID: Final = "ottc.key.id"  # the key *id* (version), never the key
FIELD_COUNT: Final = "ottc.crypto.fields"  # how many fields were sealed, never which values
CACHE_NAME: Final = "ottc.cache.name"
CACHE_HIT: Final = "ottc.cache.hit"
CHANNEL: Final = "ottc.stream.channel"  # events | violations | risk
MESSAGE_COUNT: Final = "ottc.stream.messages"
SUBSCRIBERS: Final = "ottc.stream.subscribers"
# operator
K8S_KIND: Final = "k8s.object.kind"
K8S_NAME: Final = "k8s.object.name"
K8S_NAMESPACE: Final = "k8s.namespace.name"
RECONCILE_PHASE: Final = "ottc.reconcile.phase"
RECONCILE_REASON: Final = "ottc.reconcile.reason"

ALLOWED: Final[frozenset[str]] = frozenset(
    {
        TENANT,
        EVENT_COUNT,
        EVENT_TYPES,
        DUPLICATE_COUNT,
        RULE_EVALUATIONS,
        RULE_IDS_HIT,
        VIOLATION_COUNT,
        MODEL_NAME,
        MODEL_VERSION,
        KEY_ID,
        FIELD_COUNT,
        CACHE_NAME,
        CACHE_HIT,
        CHANNEL,
        MESSAGE_COUNT,
        SUBSCRIBERS,
        K8S_KIND,
        K8S_NAME,
        K8S_NAMESPACE,
        RECONCILE_PHASE,
        RECONCILE_REASON,
    }
)
_SCALARS = (str, bool, int, float)
MAX_LIST = 64  # long lists of rule ids are cut: a span is not a report


class UnsafeAttribute(ValueError):
    """An attribute name outside the allow-list, or a value that is not a plain scalar."""


def safe_attributes(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    """The attributes, checked against the allow-list; None values are left out."""
    checked: dict[str, AttributeValue] = {}
    for name, value in attributes.items():
        if name not in ALLOWED:
            raise UnsafeAttribute(
                f"span attribute {name!r} is not in ott_runtime.telemetry.attributes.ALLOWED"
            )
        if value is None:
            continue
        if isinstance(value, bytes | bytearray | memoryview):
            raise UnsafeAttribute(f"span attribute {name!r}: bytes are never exported")
        if isinstance(value, _SCALARS):
            checked[name] = value
        elif isinstance(value, Sequence | set | frozenset) and not isinstance(value, str):
            items = sorted(value) if isinstance(value, set | frozenset) else list(value)
            if not all(isinstance(item, str) for item in items):
                raise UnsafeAttribute(f"span attribute {name!r}: only lists of strings")
            checked[name] = [str(item) for item in items[:MAX_LIST]]
        else:
            raise UnsafeAttribute(
                f"span attribute {name!r}: {type(value).__name__} is not a plain scalar"
            )
    return checked
