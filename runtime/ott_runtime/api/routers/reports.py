"""GET /v1/reports?period=: per regulation and rule, as JSON, CSV or printable HTML."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ott_runtime.api.dependencies import Scope, Service, Tenant
from ott_runtime.api.periods import ReportPeriod
from ott_runtime.api.problems import ERROR_RESPONSES
from ott_runtime.api.schemas import Report, operation_id
from ott_runtime.api.spreadsheet import csv_text

router = APIRouter(prefix="/v1/reports", tags=["reports"], generate_unique_id_function=operation_id)


def _csv(report: dict[str, Any]) -> str:
    rows: list[list[object]] = [
        ["regulation", "rule", "severity", "reference", "count", "acknowledged", "top_content"]
    ]
    for row in report["rules"]:
        top = ";".join(f"{c['contentId']}={c['count']}" for c in row["topContent"])
        rows.append(
            [
                row["regulation"],
                row["ruleId"],
                row["severity"],
                row["reference"],
                row["count"],
                row["acknowledged"],
                top,
            ]
        )
    return csv_text(rows)  # formulas and control characters neutralised


def _html(report: dict[str, Any]) -> str:
    e = html.escape
    rows = (
        "".join(
            f"<tr><td>{e(r['regulation'])}</td><td>{e(r['ruleId'])}</td><td>{e(r['severity'])}</td>"
            f"<td>{e(r['reference'])}</td><td class=n>{r['count']}</td>"
            f"<td class=n>{r['acknowledged']}</td>"
            f"<td>{e(', '.join(str(c['contentId']) for c in r['topContent']))}</td>"
            f"<td>{e(' '.join(str(t['count']) for t in r['trend']))}</td></tr>"
            for r in report["rules"]
        )
        or "<tr><td colspan=8>No violations in this period.</td></tr>"
    )
    events = "".join(f"<li>{e(t)}: {n}</li>" for t, n in sorted(report["events"].items()))
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>Compliance report {e(report["tenant"])} {e(report["period"])}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #999;padding:4px 6px;text-align:left}}td.n{{text-align:right}}
@media print{{body{{margin:0}}}}</style></head><body>
<h1>Compliance report: {e(report["displayName"])}</h1>
<p>Period {e(report["period"])}: {e(report["from"])} to {e(report["to"])}.
Generated {e(report["generatedAt"])}.</p>
<h2>Events</h2><ul>{events or "<li>none</li>"}</ul>
<h2>Violations by regulation and rule</h2>
<table><thead><tr><th>Regulation</th><th>Rule</th><th>Severity</th><th>Reference</th>
<th>Count</th><th>Acknowledged</th><th>Top content</th><th>Daily trend</th></tr></thead>
<tbody>{rows}</tbody></table>
</body></html>"""


@router.get(
    "",
    summary="Compliance report for a period",
    # documents format=json's body (the route answers a Response itself: not re-validated)
    response_model=Report,
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "The report: JSON, or CSV or printable HTML (format=csv, html).",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
    },
)
async def report(
    scope: Scope,
    service: Service,
    tenant: Tenant,
    span: ReportPeriod,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
) -> Response:
    now, period = datetime.now(UTC), span.label
    since, until = span.start, span.end
    async with service.store.read(scope) as data:
        rules = await data.reports.violation_summary(since, until)
        events = await data.reports.event_totals(since, until)
    document = {
        "tenant": scope.tenant_id,
        "displayName": tenant.spec.display_name,
        "period": period,
        "from": since.isoformat(),
        "to": until.isoformat(),
        "generatedAt": now.isoformat(),
        "events": events,
        "violations": sum(r["count"] for r in rules),
        "rules": rules,
    }
    if format == "csv":
        name = f"compliance-{scope.tenant_id}-{period}.csv"
        return Response(
            _csv(document),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if format == "html":
        return HTMLResponse(_html(document))
    return JSONResponse(document)
