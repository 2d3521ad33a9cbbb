"""`tsunagu users …`: create the first administrator and manage accounts from the shell."""

from __future__ import annotations

import sys

import click

from api.roles import MIN_PASSWORD_LENGTH, ROLES


def _accounts(workspace: str | None, accounts: str | None):
    from api.security import open_accounts
    from api.settings import Settings

    from pathlib import Path

    overrides = {k: v for k, v in {"workspace": workspace, "accounts": accounts}.items() if v}
    settings = Settings(**overrides)
    location = settings.accounts or settings.workspace
    if "://" not in location:  # an explicit command may make the workspace folder
        Path(location).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return open_accounts(settings)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(f"パスワード（{MIN_PASSWORD_LENGTH} 文字以上）", hide_input=True, confirmation_prompt="もう一度")


def _run(action) -> None:
    from api.store.base import StoreError
    from gis.errors import TsunaguError

    try:
        action()
    except (TsunaguError, StoreError, LookupError) as exc:
        click.secho(f"エラー: {exc}", fg="red", err=True)
        sys.exit(2)


_workspace = click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
_store = click.option("--accounts", default=None, help="アカウントの保存先（既定: ワークスペースの隣）")
_stdin = click.option("--password-stdin", is_flag=True, help="パスワードを標準入力の 1 行目から読む")


@click.group()
def users() -> None:
    """アカウント：最初の管理者の作成、ユーザーの追加・一覧・パスワード再設定。"""


@users.command(name="create-admin")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="表示名")
@_stdin
@_workspace
@_store
def create_admin(username, display_name, password_stdin, workspace, accounts) -> None:
    """管理者を作成します（新しいサーバーの最初のアカウント）。"""

    def action():
        store = _accounts(workspace, accounts)
        user = store.create_user(username, _password(password_stdin), role="admin", display_name=display_name)
        click.secho(f"管理者 {user.username} を作成しました（{store.location}）", fg="green")
        click.echo("tsunagu serve で起動し、http://127.0.0.1:8000/web/ からログインしてください")

    _run(action)


@users.command(name="add")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), required=True,
              help="役割: " + "、".join(f"{k}={v}" for k, v in ROLES.items()))
@click.option("--station", "station_id", default=None, help="所属拠点 ID（CSW は必須）")
@click.option("--name", "display_name", default=None, help="表示名")
@_stdin
@_workspace
@_store
def add(username, role, station_id, display_name, password_stdin, workspace, accounts) -> None:
    """役割を決めてユーザーを追加します（CSW は担当の拠点も）。"""

    def action():
        store = _accounts(workspace, accounts)
        user = store.create_user(username, _password(password_stdin), role=role, station_id=station_id,
                                 display_name=display_name)
        click.secho(f"{user.username}（{user.role_label}）を作成しました", fg="green")

    _run(action)


@users.command(name="list")
@_workspace
@_store
def list_(workspace, accounts) -> None:
    """アカウントを一覧します。"""

    from api.clock import japan_text

    def action():
        rows = _accounts(workspace, accounts).list_users()
        if not rows:
            click.echo("ユーザーはいません（tsunagu users create-admin で作成してください）")
        for r in rows:
            flags = "".join([" [無効]" if r["disabled"] else "", " [ロック中]" if r["locked"] else ""])
            station = f" 拠点 {r['station_id']}" if r["station_id"] else ""
            last = f"\t最終ログイン {japan_text(r['last_login_at'])}" if r["last_login_at"] else "\t未ログイン"
            click.echo(f"{r['username']}\t{r['role_label']}{station}{flags}{last}")

    _run(action)


@users.command(name="set-password")
@click.argument("username")
@_stdin
@_workspace
@_store
def set_password(username, password_stdin, workspace, accounts) -> None:
    """パスワードを再設定します（ロックも解除し、そのユーザーのログインを終了します）。"""

    def action():
        _accounts(workspace, accounts).update_user(username, password=_password(password_stdin))
        click.secho(f"{username} のパスワードを変更しました", fg="green")

    _run(action)
