"""The CRDs in crds/ and the models in ott_runtime.domain give the same verdict.

For every document in tests/corpus/{valid,invalid}/ the pydantic model and the CRD decide
alike; the CRD side is checked as the API server would: defaults applied, the
openAPIV3Schema checked with ``jsonschema`` (unknown fields refused, as with kubectl's strict
field validation), then every ``x-kubernetes-validations`` rule evaluated with ``cel`` with
``self`` bound to its node (tests/unit/deploy/crd_emulation.py). An invalid document must name
what its ``# expect:`` lines say on both sides. tests/unit/deploy/test_crd_schema_structure.py keeps
the two from drifting where the corpus does not look.
"""

from __future__ import annotations

import copy

import pytest

from .crd_emulation import (
    EXAMPLES,
    INVALID,
    MODELS,
    SCHEMAS,
    VALID,
    CorpusDoc,
    Json,
    apply_defaults,
    crd_verdict,
    model_verdict,
    prune_nulls,
)


def test_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 15
    assert {d.document["kind"] for d in VALID} == set(MODELS)
    assert all(d.expect for d in INVALID), [d.path.name for d in INVALID if not d.expect]


@pytest.mark.parametrize("doc", VALID + EXAMPLES, ids=lambda d: d.path.stem)
def test_valid_document_accepted_by_both(doc: CorpusDoc) -> None:
    assert crd_verdict(doc.document) == []
    assert model_verdict(doc.document) == []


@pytest.mark.parametrize("doc", INVALID, ids=lambda d: d.path.stem)
def test_invalid_document_refused_by_both_naming_the_field(doc: CorpusDoc) -> None:
    crd_said, model_said = crd_verdict(doc.document), model_verdict(doc.document)
    assert crd_said, "the CRD schema accepted it"
    assert model_said, "the model accepted it"
    for expected in doc.expect:
        assert expected in "\n".join(crd_said), crd_said
        assert expected in "\n".join(model_said), model_said


def prune_empty(value: Json) -> Json:
    if isinstance(value, dict):
        kept = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [prune_empty(v) for v in value]
    return value


@pytest.mark.parametrize("doc", VALID + EXAMPLES, ids=lambda d: d.path.stem)
def test_model_defaults_equal_api_server_defaults(doc: CorpusDoc) -> None:
    """What the API server stores and what the model reads are the same tenant."""
    schema = SCHEMAS[doc.document["kind"]]
    stored = apply_defaults(prune_nulls(copy.deepcopy(doc.document), schema), schema)
    parsed = MODELS[doc.document["kind"]].model_validate(doc.document)
    as_read = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("metadata",):
        stored.pop(key), as_read.pop(key)
    assert prune_empty(as_read) == prune_empty(stored)


# --- the CRDs themselves -------------------------------------------------------------------
