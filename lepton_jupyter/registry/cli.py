"""``lepton registry ...``: serve, fsck, and the public API's verbs for terminals."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import Invalid, json_object
from ..settings import load_settings


def _print(value: Any, as_json: bool) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    if as_json or not isinstance(value, (list, dict)):
        print(json.dumps(value, indent=2, default=str))
        return
    if isinstance(value, dict):
        # One object (a version, its lineage, an fsck report): a field per line.
        for key, item in value.items():
            if item not in (None, "", [], {}):
                plain = isinstance(item, (str, int, float))
                shown = item if plain else json.dumps(item, default=str)
                print(f"{key:12} {shown}")
        return
    for row in value:
        print("  ".join(f"{k}={v}" for k, v in row.items() if k not in ("files", "lineage")))


def _serve(args: argparse.Namespace) -> int:
    from ..handlers.registry_server import new_token, read_tokens, serve
    from .identity import Principal

    settings = load_settings(
        registry_db_url=args.db,
        registry_storage_url=args.storage,
        promotion_gates=_gates(args.promotion_gates),
    )
    if args.hub or os.environ.get("JUPYTERHUB_SERVICE_NAME"):
        from ..handlers.registry_hub import serve_hub
        from .policy import TeamPolicy

        policy = TeamPolicy.of(args.admin, args.admin_group, args.team_role)
        serve_hub(settings, policy, access_log=args.access_log)
        return 0
    from .policy import RegistryAdmins

    admins = RegistryAdmins(frozenset(args.admin), frozenset(args.admin_group))
    tokens = read_tokens(Path(args.tokens)) if args.tokens else {}
    token = args.token or os.environ.get("LEPTON_REGISTRY_TOKEN")
    if token or not tokens:
        if not token:
            token = new_token()
            print(f"token for {args.user}: {token}", flush=True)
        tokens[token] = Principal(user=args.user)
    unknown = sorted(admins.admins - {principal.user for principal in tokens.values()})
    if unknown:
        # A typo would leave the store without the admin the operator meant.
        raise Invalid(f"--admin {', '.join(unknown)}: no token is for that user (see --tokens).")
    serve(settings, tokens, args.host, args.port, access_log=args.access_log, policy=admins)
    return 0


def _gates(text: str) -> dict[str, Any] | None:
    if not text:
        return None  # LEPTON_PROMOTION_GATES, if set
    return json_object(
        text,
        not_json="--promotion-gates is not valid JSON",
        not_object='--promotion-gates is a JSON object: {"prod": {"dataset": ..., ...}}.',
    )


def _fsck(args: argparse.Namespace) -> int:
    from .service import open_service

    settings = load_settings(registry_db_url=args.db, registry_storage_url=args.storage)
    report = open_service(settings).fsck(
        verify=not args.quick, gc=args.gc, dry_run=args.dry_run, grace_seconds=args.grace
    )
    _print(report, args.json)
    problems = report.missing or report.mismatches
    if not args.gc and (report.orphans or report.stale_uploads):
        print(
            "orphans and stale uploads are garbage from interrupted publishes and deleted "
            "versions; `lepton registry fsck --gc` removes those older than --grace"
        )
    return 1 if problems else 0


def _api(verb: str) -> Any:
    from . import api

    return getattr(api, verb)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "registry",
        help="Model registry: publish, pin, roll back, lineage, serve, fsck.",
        description="Publish, pin, roll back and inspect models.",
    )
    verbs = parser.add_subparsers(dest="registry_command", metavar="VERB", required=True)

    p = verbs.add_parser("serve", help="run the registry as a standalone REST service")
    p.add_argument("--db", default="", help="SQLAlchemy URL (sqlite:///... or postgresql://...)")
    p.add_argument("--storage", default="", help="fsspec URL of the blob store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--token",
        default="",
        help="token of --user (default: $LEPTON_REGISTRY_TOKEN or a new one, printed)",
    )
    p.add_argument("--user", default=getpass.getuser(), help="the user --token authenticates")
    p.add_argument(
        "--tokens", default="", help='JSON file {"<token>": {"user": ..., "groups": [...]}}'
    )
    p.add_argument(
        "--promotion-gates",
        default="",
        metavar="JSON",
        help='aliases that move only on a passing comparison, e.g. \'{"prod": {"dataset": '
        '"datasets/eval", "metric": "correct"}}\' (default: $LEPTON_PROMOTION_GATES)',
    )
    p.add_argument("--access-log", action="store_true")
    hub = p.add_argument_group(
        "as a JupyterHub service",
        "Started by the hub (c.JupyterHub.services), the service authenticates hub users "
        "(their API tokens, or OAuth in a browser) and ignores --host/--port/--token(s).",
    )
    hub.add_argument(
        "--hub",
        action="store_true",
        help="serve as a hub service (default when $JUPYTERHUB_SERVICE_NAME is set)",
    )
    p.add_argument(
        "--admin",
        action="append",
        default=[],
        metavar="USER",
        help="user (a token's, or a hub user) who administers every namespace: fsck and gc "
        "over REST, hard deletes, grants anywhere (repeatable)",
    )
    p.add_argument(
        "--admin-group",
        action="append",
        default=[],
        metavar="GROUP",
        help="group (of a token, or a hub group) whose members administer every namespace "
        "(repeatable)",
    )
    hub.add_argument(
        "--team-role",
        default="maintainer",
        choices=["reader", "writer", "maintainer", "admin"],
        help="role a hub group gets on the namespace named after it, created by its first "
        "member to publish there (default: maintainer)",
    )
    p.set_defaults(func=_serve)

    p = verbs.add_parser("fsck", help="check blobs against metadata (orphans, corruption)")
    p.add_argument("--db", default="")
    p.add_argument("--storage", default="")
    p.add_argument("--quick", action="store_true", help="do not re-hash every blob")
    p.add_argument(
        "--gc",
        action="store_true",
        help="remove orphans (among them the blobs of deleted versions) and stale uploads",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="with --gc, only list what it would remove (under reclaimable)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=None,
        help="seconds an orphan must be old before --gc removes it (default: the "
        "registry_upload_grace_seconds setting, 3600)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_fsck)

    def verb(name: str, help_text: str, *arguments: tuple[str, dict[str, Any]], call: Any) -> None:
        p = verbs.add_parser(name, help=help_text)
        for flag, options in arguments:
            p.add_argument(flag, **options)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=lambda a: _print(call(a), a.json) or 0, call=call)

    verb(
        "models",
        "list models you can read",
        ("namespace", {"nargs": "?"}),
        ("--yanked", {"action": "store_true", "help": "list models with only yanked versions"}),
        call=lambda a: _api("models")(a.namespace, include_yanked=a.yanked),
    )
    verb(
        "versions",
        "list a model's versions",
        ("name", {}),
        ("--yanked", {"action": "store_true", "help": "list yanked versions too"}),
        call=lambda a: _api("versions")(a.name, include_yanked=a.yanked),
    )
    verb(
        "publish",
        "publish a file or folder as the next version",
        ("name", {}),
        ("path", {}),
        ("--alias", {}),
        ("--description", {}),
        call=lambda a: _api("publish")(a.name, a.path, alias=a.alias, description=a.description),
    )
    verb(
        "load",
        "print the local path of a version",
        ("ref", {}),
        call=lambda a: str(_api("load")(a.ref)),
    )
    verb(
        "alias",
        "point an alias at a version",
        ("name", {}),
        ("alias", {}),
        ("version", {"type": int}),
        ("--comparison", {"type": int, "help": "the comparison a promotion gate should use"}),
        ("--override", {"metavar": "REASON", "help": "bypass a promotion gate (maintainer)"}),
        call=lambda a: _api("set_alias")(
            a.name, a.alias, a.version, comparison=a.comparison, override=a.override
        ),
    )
    verb(
        "rollback",
        "move an alias back to its previous version",
        ("name", {}),
        ("alias", {}),
        call=lambda a: _api("rollback")(a.name, a.alias),
    )
    verb(
        "history",
        "who moved an alias when",
        ("name", {}),
        ("alias", {}),
        call=lambda a: _api("history")(a.name, a.alias),
    )
    verb(
        "lineage",
        "where a version came from and who loaded it",
        ("ref", {}),
        call=lambda a: _api("lineage")(a.ref),
    )
    verb(
        "grant",
        "give a user or group a role on a namespace",
        ("namespace", {}),
        ("role", {"choices": ["reader", "writer", "maintainer", "admin"]}),
        ("--user", {}),
        ("--group", {}),
        call=lambda a: _grant(a),
    )
    verb(
        "revoke",
        "take back the role a user or group holds on a namespace",
        ("namespace", {}),
        ("--user", {}),
        ("--group", {}),
        call=lambda a: _revoke(a),
    )
    verb(
        "yank",
        "withdraw a version: hidden from listings and aliases, still loadable by number",
        ("name", {}),
        ("version", {"type": int}),
        ("--reason", {"required": True, "help": "why (shown to whoever still loads it)"}),
        call=lambda a: _api("yank")(a.name, a.version, a.reason),
    )
    verb(
        "unyank",
        "restore a yanked version (aliases are not moved back onto it)",
        ("name", {}),
        ("version", {"type": int}),
        call=lambda a: _api("unyank")(a.name, a.version),
    )
    verb(
        "delete",
        "hard-delete a yanked version (admins): its files go, its number stays taken",
        ("name", {}),
        ("version", {"type": int}),
        ("--dry-run", {"action": "store_true", "help": "only say what would go"}),
        call=lambda a: _api("delete_version")(a.name, a.version, dry_run=a.dry_run),
    )


def _one_subject(args: argparse.Namespace) -> None:
    if bool(args.user) == bool(args.group):
        raise Invalid("Give exactly one of --user or --group.")


def _grant(args: argparse.Namespace) -> Any:
    _one_subject(args)
    return _api("grant")(args.namespace, args.role, user=args.user, group=args.group)


def _revoke(args: argparse.Namespace) -> Any:
    _one_subject(args)
    return _api("revoke")(args.namespace, user=args.user, group=args.group)


API_VERBS = (
    "models",
    "versions",
    "publish",
    "load",
    "alias",
    "rollback",
    "history",
    "lineage",
    "grant",
    "revoke",
    "yank",
    "unyank",
    "delete",
)


def magic_registry(args: list[str], cell: str | None, shell: Any) -> Any:
    """``%lepton registry VERB ...``: the CLI's API verbs, returning the result object."""
    parser = argparse.ArgumentParser(prog="%lepton", add_help=False, exit_on_error=False)
    add_parser(parser.add_subparsers(dest="command", required=True))
    usage = f"Usage: %lepton registry {{{','.join(API_VERBS)}}} ARGS"
    if not args or args[0] not in API_VERBS:
        raise Invalid(usage)
    try:
        parsed = parser.parse_args(["registry", *args])
    except (argparse.ArgumentError, SystemExit) as e:
        raise Invalid(f"{usage} ({e})") from None
    return parsed.call(parsed)
