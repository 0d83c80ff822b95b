"""`ottc version`."""

from __future__ import annotations

import platform

import click

from ott_runtime import __version__
from ott_runtime.domain import API_GROUP, API_VERSION


@click.command()
@click.option("--short", is_flag=True, help="Print the version number only.")
def version(short: bool) -> None:
    """Print the version of ottc and the API it serves."""
    if short:
        click.echo(__version__)
        return
    click.echo(f"ottc {__version__}")
    click.echo(f"api: {API_GROUP}/{API_VERSION}")
    click.echo(f"python: {platform.python_version()}")
