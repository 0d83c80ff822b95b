"""The ingest pipeline and what it needs: batch validation, tenant runtimes, the risk
scoring hook and in-process pub/sub. No web framework is imported here."""

from ott_runtime.ingest.errors import FieldProblem, IngestError
from ott_runtime.ingest.pipeline import IngestPipeline, IngestResult
from ott_runtime.ingest.pubsub import Broker, Message
from ott_runtime.ingest.scoring import NoRiskScorer, RiskScore, RiskScorer, ScoringInput
from ott_runtime.ingest.tenants import Hit, TenantRegistry, TenantRuntime

__all__ = [
    "Broker",
    "FieldProblem",
    "Hit",
    "IngestError",
    "IngestPipeline",
    "IngestResult",
    "Message",
    "NoRiskScorer",
    "RiskScore",
    "RiskScorer",
    "ScoringInput",
    "TenantRegistry",
    "TenantRuntime",
]
