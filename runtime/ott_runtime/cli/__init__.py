"""`ottc`: one command line for the operator, the runtime and the tools around them.

Subcommands live in their own modules and are imported only when used, so
`ottc --help` stays fast and `ottc validate` never loads TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> "module:attribute"; a command is listed here only once it really works.
COMMANDS: dict[str, str] = {
    "backtest": "ott_runtime.cli.backtest:backtest",
    "bench": "ott_runtime.cli.bench:bench",
    "demo": "ott_runtime.cli.demo:demo",
    "keys": "ott_runtime.cli.keys:keys",
    "serve": "ott_runtime.cli.serve:serve",
    "test": "ott_runtime.cli.rule_test:rule_test",
    "validate": "ott_runtime.cli.validate:validate",
    "version": "ott_runtime.cli.version:version",
    "graphql-schema": "ott_runtime.cli.graphql_schema:graphql_schema",
    "train": "ott_runtime.cli.train:train",
    "eval": "ott_runtime.cli.eval:eval_command",
    "dev-cluster": "ott_runtime.cli.devcluster:dev_cluster",
    "operator": "ott_operator.cli:operator",
    "pool-sync": "ott_runtime.cli.poolsync:pool_sync",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: Any = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """OTT Compliance Operator: regulatory compliance for streaming platforms on Kubernetes.

    Platform teams apply RegulationSets and ComplianceTenants; the operator provisions a
    scoring service per tenant; tenant apps send events and read violations and risk.
    """


def main() -> None:
    cli(prog_name="ottc")
