"""``tsunagu worker``: run the workspace's queued analysis jobs in this process (beside ``tsunagu serve``)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time

import click


@click.command(name="worker")
@click.option("--workspace", default=None, help="ワークスペース（postgresql:// URL または .gpkg、既定 TSUNAGU_WORKSPACE）")
@click.option("--workspace-name", default=None,
              help="PostGIS データベースの中の 1 つのワークスペースだけを扱う（既定: データベースの全ワークスペース）")
@click.option("--once", is_flag=True, help="待機中のジョブを 1 件だけ実行して終了する（なければすぐ終了）")
@click.option("--poll", "poll_s", type=click.FloatRange(min=0.05), default=None,
              help="ジョブがないときに待ち行列を見る間隔（秒、既定 TSUNAGU_JOB_POLL_S = 1）")
@click.option("--lease", "lease_s", type=click.FloatRange(min=0.5), default=None,
              help="実行中のジョブを保持する期限（秒、既定 TSUNAGU_JOB_LEASE_S = 30）。"
                   "この間ハートビートのないワーカーは停止したとみなされる")
@click.option("--max-attempts", type=click.IntRange(min=1), default=None,
              help="ワーカーが応答しなくなったジョブを失敗とするまでの試行回数（既定 3）")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="オープンデータのフォルダ")
@click.option("--check", is_flag=True, help="ワークスペースに接続できるか確かめて終了する（ヘルスチェック用、0 = 正常）")
def worker(workspace, workspace_name, once, poll_s, lease_s, max_attempts, data_dir, check) -> None:
    """待ち行列の解析ジョブをこのプロセスで実行します（1件ずつ、Ctrl-C か SIGTERM で停止）。

    PostGIS ではデータベースの全ワークスペース（市区町村）を扱います（--workspace-name で1つに限定）。
    GeoPackage ではそのファイルです。ワーカーが強制終了されたジョブは、期限（--lease）が切れると次のワーカーが
    やり直します（--max-attempts 回で失敗）。Ctrl-C・SIGTERM では実行中のジョブを次の進捗報告で待ち行列に戻し、
    2回目ですぐに終了します。
    """
    from api.cli_common import data_dir_or_none as _data_dir_or_none
    from api.cli_common import fail as _fail
    from api.cli_common import settings as _settings
    from api.store.connect import open_store
    from api.store.errors import StoreError
    from api.worker import Worker, default_worker_id, lower_priority, run_workspaces

    settings = _settings(workspace=workspace)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tsunagu").setLevel(logging.INFO)
    server = "://" in settings.workspace
    try:  # a worker brings a PostGIS schema up to date (like an import does); it never makes a .gpkg
        store = open_store(settings.workspace, workspace=workspace_name or "default", create=server and not check)
    except StoreError as exc:
        _fail(exc)
    with store:
        if check:
            try:
                queued = store.list_jobs(status="queued", limit=1000)
                running = store.list_jobs(status="running", limit=1000)
            except StoreError as exc:
                _fail(exc)
            click.echo(f"OK {store.location}: 待機中 {len(queued)} 件、実行中 {len(running)} 件")
            return
        stop = threading.Event()
        lease_s = lease_s or settings.job_lease_s
        options = {"worker_id": default_worker_id(), "lease_s": lease_s,
                   "heartbeat_s": settings.job_heartbeat_s if (settings.job_heartbeat_s or lease_s) < lease_s else None,
                   "max_attempts": max_attempts or settings.job_max_attempts,
                   "data_dir": _data_dir_or_none(data_dir), "stop": stop}
        every = server and workspace_name is None
        stores = _Workspaces(settings, store) if every else (lambda: [store])
        first = Worker(store, **options)
        _on_signals(stop)
        lower_priority(settings.job_nice)  # jobs yield the CPU to a tsunagu serve on the same machine
        click.echo(f"ワーカー {first.worker_id}: {store.location}{' の全ワークスペース' if every else ''} のジョブを"
                   f"実行します（期限 {first.lease_s:g} 秒、ハートビート {first.heartbeat_s:g} 秒）", err=True)
        try:
            if once:
                record = None
                for one in stores():
                    record = Worker(one, **options).run_once()
                    if record is not None:
                        break
                from api.store._jobs import JOB_STATUSES

                click.echo("待機中のジョブはありません" if record is None
                           else f"ジョブ {record['job_id']}: {JOB_STATUSES.get(record['status'], record['status'])}",
                           err=True)
            else:
                run_workspaces(stores, lambda one: Worker(one, **options), stop=stop,
                               poll_s=poll_s or settings.job_poll_s)
        except StoreError as exc:
            _fail(exc)
        finally:
            if every:
                stores.close()
    click.echo("ワーカーを停止しました", err=True)


class _Workspaces:
    """The workspaces of a PostGIS database, listed again every ``every_s`` seconds (new cities are picked up)."""

    def __init__(self, settings, default, *, every_s: float = 10.0) -> None:
        self.settings = settings
        self.opened = {default.workspace_name: default}
        self.every_s = every_s
        self._listed = 0.0
        self._names = [default.workspace_name]

    def __call__(self) -> list:
        from api.store.connect import open_store
        from api.store.errors import StoreError
        from api.workspaces import list_workspaces

        if time.monotonic() - self._listed >= self.every_s:
            self._listed = time.monotonic()
            try:
                self._names = [w["name"] for w in list_workspaces(self.settings)]
            except StoreError as exc:
                logging.getLogger("tsunagu.worker").warning("cannot list the workspaces: %s", exc)
        out = []
        for name in self._names:
            if name not in self.opened:
                try:
                    self.opened[name] = open_store(self.settings.workspace, workspace=name, create=False)
                except StoreError as exc:
                    logging.getLogger("tsunagu.worker").warning("cannot open workspace %s: %s", name, exc)
                    continue
            out.append(self.opened[name])
        return out

    def close(self) -> None:
        for name, store in list(self.opened.items())[1:]:
            store.close()


def _on_signals(stop: threading.Event) -> None:
    """First SIGTERM/SIGINT: stop after giving the running job back; the second: exit now."""

    def handle(signum, frame) -> None:
        if stop.is_set():
            sys.exit(128 + signum)
        click.echo("停止します（実行中のジョブは次の進捗報告で待ち行列に戻します）", err=True)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
