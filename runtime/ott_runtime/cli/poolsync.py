"""`ottc pool-sync`: the pool's sidecar that writes pooled tenants' objects into the folders
`ottc serve` reads (see ott_runtime.poolsync)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click


@click.command(name="pool-sync")
@click.option(
    "--namespace",
    envvar="OTTC_POOL_NAMESPACE",
    required=True,
    help="The pool namespace, where the operator writes pooled tenants' objects.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Default: the in-cluster ServiceAccount, else $KUBECONFIG.",
)
@click.option(
    "--resync-seconds", type=click.IntRange(min=5), default=300, show_default=True,
    help="Each watch ends after this long and starts over with a full list.",
)  # fmt: skip
@click.option("--config-dir", envvar="OTTC_CONFIG_DIR", default="/var/run/ottc/config",
              show_default=True, type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--keys-dir", envvar="OTTC_KEYS_DIR", default="/var/run/ottc/keys",
              show_default=True, type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--api-keys-dir", envvar="OTTC_API_KEYS_DIR", default="/var/run/ottc/api-keys",
              show_default=True, type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--webhook-secrets-dir", envvar="OTTC_WEBHOOK_SECRETS_DIR",
              default="/var/run/ottc/webhooks", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--log-level", default="info", show_default=True)
def pool_sync(
    namespace: str,
    kubeconfig: Path | None,
    resync_seconds: int,
    config_dir: Path,
    keys_dir: Path,
    api_keys_dir: Path,
    webhook_secrets_dir: Path,
    log_level: str,
) -> None:
    """Keep one folder per pooled tenant in step with its ConfigMap and Secrets."""
    from ott_runtime.poolsync.files import PoolFolders
    from ott_runtime.poolsync.sync import PoolSync, kube_api

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    api = kube_api(kubeconfig)
    folders = PoolFolders(config_dir, keys_dir, api_keys_dir, webhook_secrets_dir)
    for folder in (config_dir, keys_dir, api_keys_dir, webhook_secrets_dir):
        folder.mkdir(parents=True, exist_ok=True)
    sync = PoolSync(api, namespace, folders, resync_seconds=resync_seconds)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sync.run(stop)
    stop.wait()
