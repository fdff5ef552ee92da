"""`civitas portal`: run the citizen's web portal (portal/) against a Civitas server.

The portal is a relying service like any agency's: it needs a service account with the
`relying-service` capability. Give its key in $CIVITAS_PORTAL_API_KEY (or --api-key-file; a
key on the command line would show in `ps`), or its mTLS certificate. With neither, and the
server's data folder at hand (a developer's machine), the account `citizen-portal` is made
there, or given a new key, as `civitas demo` does for its accounts; the key never leaves this
process. The ledger's checkpoint key is then read from the same folder, so the in-browser check
pins it."""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path

from civitas.config import DEFAULT_HOST, DEFAULT_PORT, Config, ConfigError
from civitas.demo import create_or_rekey
from civitas.node import Node
from portal.app import serve
from portal.config import CivitasTls, PortalConfig

ACCOUNT = "citizen-portal"
ROLE = "relying-service"
KEY_VARIABLE = "CIVITAS_PORTAL_API_KEY"


def add_portal_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", metavar="HOST:PORT")
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="where the portal serves HTTP(S) (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key-file", type=Path, help=f"the portal account's API key (else ${KEY_VARIABLE})"
    )
    parser.add_argument("--ca-cert", type=Path, metavar="PEM", help="TLS to Civitas: trust this CA")
    parser.add_argument("--client-cert", type=Path, metavar="PEM", help="mTLS: the portal's cert")
    parser.add_argument("--client-key", type=Path, metavar="PEM", help="mTLS: its key")
    parser.add_argument("--https-cert", type=Path, metavar="PEM", help="the portal's own HTTPS")
    parser.add_argument("--https-key", type=Path, metavar="PEM", help="its key")
    parser.add_argument(
        "--checkpoint-key",
        default="",
        help="the ledger's published checkpoint key (`civitas keys show`), pinned by the "
        "in-browser receipt check (default: read from the data folder when there)",
    )

    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's cosignature/v1 verifier key whose cosignatures the in-browser "
        "receipt check verifies (repeat for several)",
    )
    parser.add_argument(
        "--renew-token-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="renew a citizen's Civitas token when it is this old, while they use the portal "
        "(default: %(default)s; keep it under the server's idle limit)",
    )


def _witness_key(text: str) -> str:
    """A cosignature/v1 note verifier key, `name+8 hex+base64(0x04 || 32 bytes)`, or refused."""
    name, _, rest = text.partition("+")
    key_id, _, blob = rest.partition("+")
    try:
        raw = base64.b64decode(blob, validate=True)
    except ValueError:
        raw = b""
    if not (name and len(key_id) == 8 and len(raw) == 33 and raw[0] == 0x04) or " " in name:
        raise ConfigError(f"--witness-key must be a cosignature/v1 verifier key, not {text!r}")
    return text


def _host_port(text: str, flag: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not (host and colon and port.isdigit() and 0 < int(port) <= 65535):
        raise ConfigError(f"{flag} must be HOST:PORT with a port 1..65535, not {text!r}")
    return host, int(port)


def run_portal_command(config: Config, args: argparse.Namespace) -> int:
    _host_port(args.target, "--target")
    host, port = _host_port(args.listen, "--listen")
    if (args.client_cert or args.client_key) and not args.ca_cert:
        raise ConfigError("--client-cert and --client-key need --ca-cert (mTLS runs over TLS)")
    if (args.client_cert is None) != (args.client_key is None):
        raise ConfigError("--client-cert and --client-key go together")
    if not 0 <= args.renew_token_after <= 86_400:
        raise ConfigError("--renew-token-after must be 0 to 86400 seconds")
    if (args.https_cert is None) != (args.https_key is None):
        raise ConfigError("--https-cert and --https-key go together")
    witness_keys = tuple(_witness_key(key) for key in args.witness_key)
    tls = CivitasTls(args.ca_cert, args.client_cert, args.client_key) if args.ca_cert else None
    api_key = args.api_key_file.read_text().strip() if args.api_key_file else None
    api_key = api_key or os.environ.get(KEY_VARIABLE) or None
    checkpoint_key = args.checkpoint_key
    if api_key is None and args.client_cert is None:
        api_key, checkpoint_key = _local_account(config, checkpoint_key)
    portal = PortalConfig(
        target=args.target,
        api_key=api_key,
        civitas_tls=tls,
        host=host,
        port=port,
        https_cert=args.https_cert,
        https_key=args.https_key,
        checkpoint_key=checkpoint_key,
        renew_token_after_seconds=args.renew_token_after,
        witness_keys=witness_keys,
    )
    if args.https_cert is None and host not in ("127.0.0.1", "::1", "localhost"):
        # The session cookie is Secure: over plain HTTP only localhost keeps it.
        print(
            f"civitas portal: plain HTTP on {host}; browsers will not keep its session cookie "
            "unless a TLS proxy serves it as HTTPS (or give --https-cert/--https-key)",
            file=sys.stderr,
        )
    print(f"the citizen portal on http{'s' if args.https_cert else ''}://{args.listen}")
    serve(portal)
    return 0


def _local_account(config: Config, checkpoint_key: str) -> tuple[str, str]:
    """A key for `citizen-portal` in the local data folder, and its ledger's checkpoint key."""
    node = Node(config)
    try:
        if not node.keys.exists():
            raise ConfigError(
                f"no ledger in {config.data_dir}: give ${KEY_VARIABLE} (or --api-key-file), "
                "or the server's --data-dir"
            )
        api_key, done = create_or_rekey(node, ACCOUNT, ROLE)
        print(f"service account {ACCOUNT} ({ROLE}) {done} in {config.data_dir}")
        return api_key, checkpoint_key or node.keys.load_keyring().checkpoint_keys[-1]
    finally:
        node.close()
