"""`ottc graphql-schema`: print the GraphQL schema, write it, or check a file against it."""

from __future__ import annotations

from pathlib import Path

import click


def schema_text() -> str:
    from ott_runtime.api.graphql.schema import schema

    return schema.as_str().rstrip("\n") + "\n"


@click.command("graphql-schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the schema here (the repo keeps it in schema.graphql).",
)
@click.option("--check", is_flag=True, help="Exit 1 when --output differs from the code's schema.")
def graphql_schema(output: Path | None, check: bool) -> None:
    """Print the /v1/graphql schema (SDL), or write/check it (-o schema.graphql [--check])."""
    text = schema_text()
    if output is None:
        if check:
            raise click.UsageError("--check needs --output")
        click.echo(text, nl=False)
        return
    if check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            raise click.ClickException(
                f"{output} is stale: run `ottc graphql-schema -o {output}` and commit it"
            )
        click.echo(f"{output} matches the code's schema")
        return
    output.write_text(text)
    click.echo(f"wrote {output}")
