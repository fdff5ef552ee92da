"""`civitas`: serve, initialise, manage service accounts and keys, sequence, export, and run
the citizen portal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from eventsourcing.persistence import PersistenceError

from civitas.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    LIMIT_VARIABLES,
    LOG_FORMATS,
    CallLimits,
    Config,
    ConfigError,
    build_config,
    operator_actor,
)
from civitas.demo import add_demo_arguments, run_demo_command
from civitas.logs import configure_logging
from civitas.node import Node, utc_now
from civitas.portal_command import add_portal_arguments, run_portal_command
from ledger.errors import DomainError
from ledger.export import export_bundle
from ledger.keyring import KeyringError
from ledger.schema import SCHEMA_VERSION, SchemaVersions
from projections.registry import PROJECTIONS, STATISTICS
from projections.service import ProjectionService
from projections.statistics import authentications_per_day, median_days_to_decision

if TYPE_CHECKING:  # argparse names the type of `add_subparsers()` privately
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = build_config(
            data_dir=getattr(args, "data_dir", None),
            database=getattr(args, "database", None),
            host=getattr(args, "host", DEFAULT_HOST),
            port=getattr(args, "port", DEFAULT_PORT),
            tls_cert=getattr(args, "tls_cert", None),
            tls_key=getattr(args, "tls_key", None),
            client_ca=getattr(args, "client_ca", None),
            dev=getattr(args, "dev", None),
            verify_on_read=not getattr(args, "no_verify_on_read", False),
            rp_id=getattr(args, "rp_id", None),
            rp_origins=tuple(getattr(args, "rp_origin", None) or ()),
            token_issuer=getattr(args, "token_issuer", None),
            token_audience=getattr(args, "token_audience", None),
            metrics_port=getattr(args, "metrics_port", None),
            metrics_host=getattr(args, "metrics_host", None),
            tiles_port=getattr(args, "tiles_port", None),
            tiles_host=getattr(args, "tiles_host", None),
            log_format=getattr(args, "log_format", None),
            allow_aal3=getattr(args, "allow_aal3", None),
            attestation_roots=getattr(args, "attestation_roots", None),
            witnesses=getattr(args, "witness", None) or (),
            witness_threshold=getattr(args, "witness_threshold", None),
            call_limits={name: getattr(args, name, None) for name in LIMIT_VARIABLES},
        )
        configure_logging(config.log_format)
        config = replace(config, create_schema=_may_create_schema(args.command, config))
        result: int = args.command(config, args)
    # OSError: a folder that cannot be written, a file that is not there…
    except (ConfigError, DomainError, KeyringError, OSError) as error:
        print(f"civitas: {error}", file=sys.stderr)
        return 2
    except (PersistenceError, psycopg.Error) as error:
        print(f"civitas: the database refused: {error}", file=sys.stderr)
        return 2
    return result


def _limit_flags(serve: argparse.ArgumentParser) -> None:
    """What one caller may hold of the server (docs/relying-services.md, Limits)."""
    limits = CallLimits()
    serve.add_argument(
        "--max-streams-per-caller",
        dest="streams_per_caller",
        type=int,
        help="open streams one caller (account or citizen) may hold "
        f"($CIVITAS_MAX_STREAMS_PER_CALLER, default {limits.streams_per_caller})",
    )
    serve.add_argument(
        "--max-calls-per-caller",
        dest="calls_per_caller",
        type=int,
        help="unary calls one caller may have in flight "
        f"($CIVITAS_MAX_CALLS_PER_CALLER, default {limits.calls_per_caller})",
    )
    serve.add_argument(
        "--max-stream-seconds",
        dest="stream_lifetime_seconds",
        type=float,
        help="a watch ends after this long and the client resumes from its last position "
        f"($CIVITAS_MAX_STREAM_SECONDS, default {limits.stream_lifetime_seconds:g})",
    )
    serve.add_argument(
        "--stream-recheck-seconds",
        dest="stream_recheck_seconds",
        type=float,
        help="how often an idle watch checks its caller's credentials again; every item is "
        "checked before it is sent ($CIVITAS_STREAM_RECHECK_SECONDS, "
        f"default {limits.stream_recheck_seconds:g})",
    )
    serve.add_argument(
        "--rpc-workers",
        dest="rpc_workers",
        type=int,
        help=f"threads running unary calls ($CIVITAS_RPC_WORKERS, default {limits.rpc_workers})",
    )


def _may_create_schema(command: object, config: Config) -> bool:
    """The embedded SQLite makes its own tables. A PostgreSQL schema is created or migrated
    only by `init`, `db upgrade` and `serve` in dev mode; a production server and every other
    command check that it is up to date."""
    if command in (_init, _db_upgrade) or not config.is_postgres:
        return True
    return command is _serve and config.dev_plaintext


def _serve(config: Config, args: argparse.Namespace) -> int:
    from civitas.server import serve

    serve(config)
    return 0


def _init(config: Config, args: argparse.Namespace) -> int:
    with Node(config) as node:
        keyring = node.initialise(args.origin).keyring
        node.upgrade_schema()
        print(f"data folder: {node.config.data_dir}\norigin: {keyring.origin}")
        print(f"checkpoint key: {keyring.checkpoint_keys[-1]}")
    return 0


def _db_upgrade(config: Config, args: argparse.Namespace) -> int:
    """Prepare a deployment before its servers start: the keys every replica shares (made once,
    kept when present) and the schema."""
    with Node(config) as node:
        if node.initialise().created_keys:
            print(f"created the ledger keys in {node.config.keys_dir}")
        before, after = node.upgrade_schema()
        if before == after:
            print(f"database schema already at version {after}")
        else:
            print(f"database schema upgraded from version {before} to {after}")
    return 0


def _db_version(config: Config, args: argparse.Namespace) -> int:
    with _initialised_node(config) as node:
        found = SchemaVersions(node.store.datastore).current()
        print(json.dumps({"database": found, "release": SCHEMA_VERSION}))
    return 0 if found == SCHEMA_VERSION else 1


def _accounts_add(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        issued = node.accounts.create(args.name, args.role, actor=operator_actor())
        print(f"account {issued.account.name} ({issued.account.role}) created.")
        print("API key (shown once, store it now):")
        print(issued.api_key)
    return 0


def _accounts_role(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        caller = node.accounts.change_role(args.name, args.role, actor=operator_actor())
        print(f"account {caller.name} now has role {caller.role}")
    return 0


def _accounts_rekey(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        issued = node.accounts.replace_key(args.name, actor=operator_actor())
        print(f"new API key for {issued.account.name} (the old one no longer works):")
        print(issued.api_key)
    return 0


def _accounts_revoke(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        node.accounts.revoke(args.name, args.reason, actor=operator_actor())
        print(f"account {args.name} revoked")
    return 0


def _keys_rotate(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        if args.checkpoint:
            keyring = node.keys.rotate_checkpoint_key()
            print(f"new checkpoint key: {keyring.checkpoint_keys[-1]}")
        else:
            keyring = node.keys.rotate_entry_key(utc_now())
            print(f"new entry key: {keyring.entry_keys[-1].kid}")
    return 0


def _keys_show(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        sys.stdout.write(node.keys.load_keyring().to_json_bytes().decode())
    return 0


def _sequence(config: Config, args: argparse.Namespace) -> int:
    """Run the sequencer in the foreground (what `serve` does in the background)."""
    with _ready_node(config) as node:
        sequencer = node.sequencer()
        if args.until_caught_up:
            done = sequencer.catch_up(node.store.recorder.max_notification_id(), args.timeout)
            if not done:
                print("civitas: another process is sequencing this ledger", file=sys.stderr)
            halted = sequencer.guard.halted_reason if sequencer.guard else None
            if halted:
                print(f"civitas: refusing to sign: {halted}", file=sys.stderr)
            return 0 if done and not halted else 1
        sequencer.start()
        sequencer.join()
    return 0


def _re_anchor(config: Config, args: argparse.Namespace) -> int:
    """Let the sequencer sign again after it found a fork: recorded in the log as an event."""
    with _ready_node(config) as node:
        guard = node.fork_guard()
        done = node.log_anchors.re_anchor(
            guard,
            node.log_view,
            node.checkpoint_signer,
            reason=args.reason,
            operator=args.operator or operator_actor(),
            actor=operator_actor(),
        )
        given_up = f"the checkpoint of {done.old_size:,} entries" if done.old_size >= 0 else "none"
        print(f"re-anchored: gave up {given_up}; signed the tree of {done.new_size:,} entries")
        print(done.note, end="")
    return 0


def _export(config: Config, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with _sequenced_node(config) as node:
        out_dir = Path(args.out)
        total = node.audit.latest_checkpoint().tree_size
        with tqdm(total=total, unit="entry", disable=None, file=sys.stderr) as bar:
            written = export_bundle(node.audit, out_dir, bar.update)
        print(json.dumps({"entries": written, "out": str(out_dir)}))
    return 0


def _receipt(config: Config, args: argparse.Namespace) -> int:
    with _sequenced_node(config) as node:
        document = json.dumps(node.audit.receipt(args.index), indent=2) + "\n"
        if args.out:
            Path(args.out).write_text(document)
        else:
            sys.stdout.write(document)
    return 0


def _projection(node: Node, name: str) -> ProjectionService:
    services = {s.name: s for s in node.projections()}
    if name not in services:
        raise ConfigError(f"no projection {name!r}; known: {', '.join(services)}")
    return services[name]


def _projections_rebuild(config: Config, args: argparse.Namespace) -> int:
    with _ready_node(config) as node:
        projection = _projection(node, args.name)
        target = node.store.recorder.max_notification_id()
        view = node.projection_view(args.name)
        if not projection.rebuild(view.reset, target, args.timeout):
            print("civitas: a running server owns this projection; stop it first", file=sys.stderr)
            return 1
        print(f"projection {args.name} rebuilt up to position {target or 0}")
    return 0


def _projections_run(config: Config, args: argparse.Namespace) -> int:
    """Run one projection in the foreground (what `serve` does in the background)."""
    with _ready_node(config) as node:
        target = node.store.recorder.max_notification_id()
        done = _projection(node, args.name).catch_up(target, args.timeout)
    if not done:
        print("civitas: another process runs this projection", file=sys.stderr)
    return 0 if done else 1


PROJECTION_NAMES = f"one of {', '.join(PROJECTIONS)}"


def _stats(config: Config, args: argparse.Namespace) -> int:
    """Print the statistics projection (catching it up first unless a server runs it)."""
    with _ready_node(config) as node:
        statistics = _projection(node, STATISTICS.name)
        statistics.catch_up(node.store.recorder.max_notification_id(), args.timeout)
        report = {
            "authentications_per_day": authentications_per_day(node.statistics_view),
            "median_days_to_decision": median_days_to_decision(node.statistics_view),
        }
        print(json.dumps(report, indent=2))
    return 0


def _sequenced_node(config: Config) -> Node:
    """A node whose latest checkpoint covers everything written so far (unless a running server
    holds the sequencer, in which case its checkpoint follows within a second)."""
    node = _ready_node(config)
    node.sequencer().catch_up(node.store.recorder.max_notification_id())
    return node


def _ready_node(config: Config) -> Node:
    node = _initialised_node(config)
    node.prepare_schema()
    return node


def _initialised_node(config: Config) -> Node:
    node = Node(config)
    if not node.keys.exists():
        raise ConfigError(
            f"no ledger in {node.config.data_dir}: run `civitas init` (or `civitas db upgrade`)"
        )
    return node


def _global_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name. SUPPRESS: a subcommand's parser
    leaves a value given before the subcommand alone instead of resetting it to a default."""
    options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument(
        "--data-dir", help="data folder (default: $CIVITAS_DATA, else ./civitas-data)"
    )
    options.add_argument(
        "--database",
        help="sqlite:///PATH (its folder must exist) or postgresql://USER@HOST:PORT/DB "
        "(postgres:// too); default: $CIVITAS_DATABASE, else SQLite in the data folder",
    )
    return options


GLOBAL_OPTIONS = _global_options()


def _command(commands: Subcommands, name: str, summary: str) -> argparse.ArgumentParser:
    """A (sub)command that also takes the global options."""
    return commands.add_parser(name, help=summary, parents=[GLOBAL_OPTIONS])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civitas", description=__doc__, parents=[GLOBAL_OPTIONS])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = _command(commands, "serve", "run the gRPC service")
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on, 0..65535; 0 picks a free one and logs it (default: %(default)s)",
    )
    serve.add_argument("--tls-cert", metavar="PEM", help="the server's certificate (chain)")
    serve.add_argument("--tls-key", metavar="PEM", help="its private key, unencrypted")
    serve.add_argument(
        "--client-ca",
        metavar="PEM",
        help="mutual TLS (needs --tls-cert/--tls-key): CA whose client certificates name callers",
    )
    serve.add_argument(
        "--dev",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="plaintext on loopback (the default when no TLS files are given; logged loudly)",
    )
    serve.add_argument(
        "--no-verify-on-read",
        action="store_true",
        help="skip signature checks when reading events back (faster)",
    )
    serve.add_argument("--rp-id", help="WebAuthn relying party id (default localhost)")
    serve.add_argument(
        "--rp-origin", action="append", help="allowed WebAuthn origin (repeat for several)"
    )
    serve.add_argument(
        "--attestation-roots",
        metavar="JSON",
        help="allow-list of passkey models and their attestation roots, FIDO MDS3-shaped "
        "($CIVITAS_ATTESTATION_ROOTS; see docs/relying-services.md)",
    )
    serve.add_argument(
        "--allow-aal3",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="attested passkeys of an allow-listed model reach AAL3 "
        "($CIVITAS_ALLOW_AAL3, default off; needs --attestation-roots)",
    )
    serve.add_argument(
        "--token-issuer", help="`iss` of citizens' JWTs ($CIVITAS_TOKEN_ISSUER, default civitas)"
    )
    serve.add_argument(
        "--token-audience",
        help="`aud` of citizens' JWTs ($CIVITAS_TOKEN_AUDIENCE, default civitas)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics over HTTP on this port (0: any free port; "
        "default $CIVITAS_METRICS_PORT, else off)",
    )
    serve.add_argument("--metrics-host", help="address for /metrics (default: --host)")
    serve.add_argument(
        "--tiles-port",
        type=int,
        help="serve the log as C2SP tlog-tiles over HTTP on this port (0: any free port; "
        "default $CIVITAS_TILES_PORT, else off; docs/ledger-format.md section 9)",
    )
    serve.add_argument("--tiles-host", help="address for the tiles (default: --host)")
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text for people (the default), json for a log pipeline ($CIVITAS_LOG_FORMAT)",
    )
    serve.add_argument(
        "--witness",
        nargs=2,
        action="append",
        default=[],
        metavar=("URL", "VKEY"),
        help="a C2SP tlog-witness to cosign every checkpoint: its URL and cosignature/v1 "
        "verifier key; repeatable ($CIVITAS_WITNESSES, see docs/witnesses.md)",
    )
    serve.add_argument(
        "--witness-threshold",
        type=int,
        metavar="K",
        help="cosignatures that make a checkpoint witnessed ($CIVITAS_WITNESS_THRESHOLD, "
        "default: every --witness)",
    )
    _limit_flags(serve)
    serve.set_defaults(command=_serve)

    init = _command(commands, "init", "create the data folder and the first keys")
    init.add_argument("--origin", help="checkpoint origin line (default: unique per install)")
    init.set_defaults(command=_init)

    database = _command(commands, "db", "the database schema")
    database_commands = database.add_subparsers(required=True, metavar="ACTION")
    upgrade = _command(
        database_commands,
        "upgrade",
        "make the keys if absent, create or migrate the tables (idempotent)",
    )
    upgrade.set_defaults(command=_db_upgrade)
    version = _command(
        database_commands, "version", "print the schema version (exit 1 when an upgrade is due)"
    )
    version.set_defaults(command=_db_version)

    _add_account_commands(commands)
    _add_key_commands(commands)
    _add_log_commands(commands)
    demo = _command(commands, "demo", "walk a citizen through a running server, step by step")
    add_demo_arguments(demo)
    demo.set_defaults(command=run_demo_command)
    portal = _command(commands, "portal", "run the citizen's web portal against a server")
    add_portal_arguments(portal)
    portal.set_defaults(command=run_portal_command)
    return parser


def _add_account_commands(commands: Subcommands) -> None:
    accounts = _command(commands, "accounts", "service accounts that may call the API")
    account_commands = accounts.add_subparsers(required=True, metavar="ACTION")
    add = _command(account_commands, "add", "create an account and print its API key once")
    add.add_argument("name")
    add.add_argument(
        "--role",
        required=True,
        help="capabilities, comma-separated: agency:<name>, registrar, relying-service, "
        "auditor, admin (e.g. agency:tax,relying-service)",
    )
    add.set_defaults(command=_accounts_add)
    role = _command(account_commands, "role", "change an account's role")
    role.add_argument("name")
    role.add_argument("role", help="the new capabilities, comma-separated (as for add --role)")
    role.set_defaults(command=_accounts_role)
    rekey = _command(account_commands, "rekey", "replace an account's API key")
    rekey.add_argument("name")
    rekey.set_defaults(command=_accounts_rekey)
    revoke = _command(account_commands, "revoke", "revoke an account")
    revoke.add_argument("name")
    revoke.add_argument("--reason", default="revoked by operator")
    revoke.set_defaults(command=_accounts_revoke)


def _add_key_commands(commands: Subcommands) -> None:
    keys = _command(commands, "keys", "signing keys")
    key_commands = keys.add_subparsers(required=True, metavar="ACTION")
    rotate = _command(key_commands, "rotate", "add a new key and close the current one")
    rotate.add_argument("--checkpoint", action="store_true", help="rotate the checkpoint key")
    rotate.set_defaults(command=_keys_rotate)
    show = _command(key_commands, "show", "print the public keyring")
    show.set_defaults(command=_keys_show)


def _add_log_commands(commands: Subcommands) -> None:
    sequence = _command(commands, "sequence", "run the sequencer in the foreground")
    sequence.add_argument("--until-caught-up", action="store_true")
    sequence.add_argument("--timeout", type=float, default=600.0)
    sequence.set_defaults(command=_sequence)

    ledger = _command(commands, "ledger", "the signed log itself")
    ledger_commands = ledger.add_subparsers(required=True, metavar="ACTION")
    re_anchor = _command(
        ledger_commands,
        "re-anchor",
        "after the sequencer refused to sign a fork: record why (a ledger event) and let it "
        "sign the current tree",
    )
    re_anchor.add_argument("--reason", required=True, help="why; every auditor reads it")
    re_anchor.add_argument("--operator", help="who decided (default: cli:<login name>)")
    re_anchor.set_defaults(command=_re_anchor)

    export = _command(
        commands, "export", "write the export bundle (docs/ledger-format.md section 6)"
    )
    export.add_argument("--out", required=True)
    export.set_defaults(command=_export)

    receipt = _command(commands, "receipt", "write the receipt of one entry (by leaf index)")
    receipt.add_argument("index", type=int)
    receipt.add_argument("--out", help="file to write (default: standard output)")
    receipt.set_defaults(command=_receipt)

    projections = _command(commands, "projections", "read models fed from the log")
    projection_commands = projections.add_subparsers(required=True, metavar="ACTION")
    rebuild = _command(projection_commands, "rebuild", "replay a projection from zero")
    rebuild.add_argument("name", help=PROJECTION_NAMES)
    rebuild.add_argument("--timeout", type=float, default=600.0)
    rebuild.set_defaults(command=_projections_rebuild)
    run = _command(projection_commands, "run", "follow the log up to now, in the foreground")
    run.add_argument("name", help=PROJECTION_NAMES)
    run.add_argument("--timeout", type=float, default=600.0)
    run.set_defaults(command=_projections_run)

    stats = _command(commands, "stats", "sign-ins per day; median days to a decision")
    stats.add_argument("--timeout", type=float, default=60.0)
    stats.set_defaults(command=_stats)


if __name__ == "__main__":
    sys.exit(main())
