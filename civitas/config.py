"""The one configuration object, built once from flags and environment and handed down."""

from __future__ import annotations

import getpass
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ledger.witnessing import (
    REFRESH_SECONDS,
    Witness,
    WitnessKey,
    WitnessKeyError,
    WitnessPolicy,
)

DEFAULT_DATA_DIR = "civitas-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
LOG_FORMATS = ("text", "json")
# libpq reads both spellings of a PostgreSQL URI, so both are taken; anything else is refused
# rather than guessed to be the name of a SQLite file.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite:///"
DEFAULT_TOKEN_ISSUER = "civitas"  # noqa: S105 - a JWT `iss`, not a secret
DEFAULT_TOKEN_AUDIENCE = "civitas"  # noqa: S105 - a JWT `aud`, not a secret


class ConfigError(Exception):
    """The configuration cannot work; the message says which setting to change."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None  # with a client CA, callers may authenticate by certificate (mTLS)


@dataclass(frozen=True)
class CallLimits:
    """What one caller may hold of a running server (civitas/api/caller_limits.py), and how
    long a watch lives before the server ends it and the client resumes from its position."""

    streams_per_caller: int = 8  # open server streams (watches, audit streams)
    calls_per_caller: int = 16  # unary RPCs in flight: half the workers, so two callers share
    stream_lifetime_seconds: float = 1800.0  # a watch then ends OK; the client reconnects
    # An idle watch checks its caller's credentials this often (an item is always checked
    # before it is sent): the cost of 10,000 idle watches is 10,000 / this checks a second.
    stream_recheck_seconds: float = 30.0
    rpc_workers: int = 32  # threads running unary RPCs (the streams need none while idle)

    def check(self) -> None:
        if min(self.streams_per_caller, self.calls_per_caller, self.rpc_workers) < 1:
            raise ConfigError("stream, call and worker limits must each be at least 1")
        if min(self.stream_lifetime_seconds, self.stream_recheck_seconds) <= 0:
            raise ConfigError("the stream lifetime and recheck interval must be positive")


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls: TlsFiles | None = None
    dev_plaintext: bool = False
    verify_on_read: bool = True
    # Off for a production server: only `civitas db upgrade` runs DDL (see ledger/schema.py).
    create_schema: bool = True
    key_passphrase: bytes | None = None
    checkpoint_interval: float = 0.5
    session_hours: float = 12.0  # NIST 800-63B AAL2 reauthentication: 12 h absolute
    session_idle_minutes: float = 30.0  # and 30 min of inactivity
    activation_days: float = 30.0  # how long a citizen's activation code may be used
    recovery_wait_hours: float = 24.0  # admin recovery takes effect after this
    lockout_throttle_after: int = 5
    lockout_lock_after: int = 10
    catalogue_path: Path | None = None  # the packaged service catalogue when None
    rp_id: str = "localhost"  # WebAuthn relying party id: the portals' registrable domain
    rp_origins: tuple[str, ...] = ("https://localhost",)
    # AAL3 is an operator's decision, off by default, and needs the allow-list of authenticator
    # models whose attestation it trusts (identity/attestation.py: a FIDO MDS3-shaped JSON file).
    allow_aal3: bool = False
    attestation_roots: Path | None = None
    # The `iss` and `aud` of citizens' JWTs: a deployment names itself (often its URL) and the
    # relying services it issues for, and every relying service checks both (RFC 8725 §3.8-3.9).
    token_issuer: str = DEFAULT_TOKEN_ISSUER
    token_audience: str = DEFAULT_TOKEN_AUDIENCE
    metrics_port: int | None = None  # Prometheus `/metrics` over HTTP; None: not served, 0: any
    metrics_host: str = DEFAULT_HOST
    tiles_port: int | None = None  # the C2SP tlog-tiles read API over HTTP; None: not served
    tiles_host: str = DEFAULT_HOST
    log_format: str = "text"  # or "json", one object a line, for a log pipeline
    call_limits: CallLimits = CallLimits()
    # C2SP tlog-witnesses that cosign each checkpoint, and how many make it witnessed
    # (docs/witnesses.md); None without witnesses.
    witnesses: WitnessPolicy | None = None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(POSTGRES_SCHEMES)

    def check_limits(self) -> None:
        """NIST 800-63B section 5.2.2: never more than 100 consecutive failed attempts."""
        if not 0 < self.lockout_throttle_after <= self.lockout_lock_after <= 100:
            raise ConfigError(
                "lockout: need 0 < CIVITAS_LOCKOUT_THROTTLE_AFTER"
                " <= CIVITAS_LOCKOUT_LOCK_AFTER <= 100"
            )

    def check_transport(self) -> None:
        """Plaintext is for a developer's own machine only, and only when asked for."""
        if self.tls is not None:
            return
        if not self.dev_plaintext:
            raise ConfigError(
                "no TLS configured: pass --tls-cert/--tls-key, or --dev for localhost"
            )
        if not _is_loopback(self.host):
            raise ConfigError(f"--dev serves plaintext and only on loopback, not on {self.host}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data_dir_from(flag: str | None, environ: Mapping[str, str]) -> Path:
    # Absolute: the SQLite URL made from it must not read `./civitas-data` as `/civitas-data`.
    return Path(flag or environ.get("CIVITAS_DATA") or DEFAULT_DATA_DIR).absolute()


def operator_actor() -> str:
    """Who the ledger records for an operator's CLI command: `cli:<login name>`."""
    return f"cli:{getpass.getuser()}"


def build_config(
    *,
    data_dir: str | None = None,
    database: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    client_ca: str | None = None,
    dev: bool | None = None,
    verify_on_read: bool = True,
    rp_id: str | None = None,
    rp_origins: tuple[str, ...] = (),
    token_issuer: str | None = None,
    token_audience: str | None = None,
    metrics_port: int | None = None,
    metrics_host: str | None = None,
    tiles_port: int | None = None,
    tiles_host: str | None = None,
    log_format: str | None = None,
    allow_aal3: bool | None = None,
    attestation_roots: str | None = None,
    call_limits: Mapping[str, float | None] | None = None,
    witnesses: Sequence[Sequence[str]] = (),
    witness_threshold: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Flags win over the environment (CIVITAS_*), which wins over the defaults."""
    env = os.environ if environ is None else environ
    folder = data_dir_from(data_dir, env)
    database_url = _database_url(database or env.get("CIVITAS_DATABASE"), folder)
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if client_ca and not tls_cert:
        # Without it the server would serve plaintext and never ask for a client certificate.
        raise ConfigError("--client-ca needs --tls-cert and --tls-key: mutual TLS runs over TLS")
    tls = (
        TlsFiles(Path(tls_cert), Path(tls_key), Path(client_ca) if client_ca else None)
        if tls_cert and tls_key
        else None
    )
    passphrase = env.get("CIVITAS_KEY_PASSPHRASE")
    roots = attestation_roots or env.get("CIVITAS_ATTESTATION_ROOTS")
    aal3 = allow_aal3 if allow_aal3 is not None else _flag(env, "CIVITAS_ALLOW_AAL3")
    if aal3 and not roots:
        raise ConfigError(
            "--allow-aal3/CIVITAS_ALLOW_AAL3 needs --attestation-roots/CIVITAS_ATTESTATION_ROOTS:"
            " only a passkey whose attestation chains to a trusted root reaches AAL3"
        )
    chosen_log_format = log_format or env.get("CIVITAS_LOG_FORMAT") or "text"
    if chosen_log_format not in LOG_FORMATS:
        raise ConfigError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    return Config(
        data_dir=folder,
        database_url=database_url,
        host=host,
        port=_port(port, "--port"),
        tls=tls,
        # Without TLS files, the default is the developer's plaintext loopback mode (logged loudly).
        dev_plaintext=dev if dev is not None else tls is None,
        verify_on_read=verify_on_read,
        key_passphrase=passphrase.encode() if passphrase else None,
        rp_id=rp_id or env.get("CIVITAS_RP_ID") or "localhost",
        rp_origins=rp_origins
        or tuple(filter(None, env.get("CIVITAS_RP_ORIGINS", "").split(",")))
        or ("https://localhost",),
        catalogue_path=Path(env["CIVITAS_CATALOGUE"]) if env.get("CIVITAS_CATALOGUE") else None,
        token_issuer=_claim_value(
            token_issuer or env.get("CIVITAS_TOKEN_ISSUER") or DEFAULT_TOKEN_ISSUER,
            "--token-issuer/CIVITAS_TOKEN_ISSUER",
        ),
        token_audience=_claim_value(
            token_audience or env.get("CIVITAS_TOKEN_AUDIENCE") or DEFAULT_TOKEN_AUDIENCE,
            "--token-audience/CIVITAS_TOKEN_AUDIENCE",
        ),
        session_hours=_number(env, "CIVITAS_SESSION_HOURS", 12.0),
        session_idle_minutes=_number(env, "CIVITAS_SESSION_IDLE_MINUTES", 30.0),
        activation_days=_number(env, "CIVITAS_ACTIVATION_DAYS", 30.0),
        recovery_wait_hours=_number(env, "CIVITAS_RECOVERY_WAIT_HOURS", 24.0),
        lockout_throttle_after=int(_number(env, "CIVITAS_LOCKOUT_THROTTLE_AFTER", 5)),
        lockout_lock_after=int(_number(env, "CIVITAS_LOCKOUT_LOCK_AFTER", 10)),
        metrics_port=_optional_port(
            metrics_port if metrics_port is not None else env.get("CIVITAS_METRICS_PORT"),
            "--metrics-port/CIVITAS_METRICS_PORT",
        ),
        metrics_host=metrics_host or env.get("CIVITAS_METRICS_HOST") or host,
        tiles_port=_optional_port(
            tiles_port if tiles_port is not None else env.get("CIVITAS_TILES_PORT"),
            "--tiles-port/CIVITAS_TILES_PORT",
        ),
        tiles_host=tiles_host or env.get("CIVITAS_TILES_HOST") or host,
        log_format=chosen_log_format,
        allow_aal3=aal3,
        attestation_roots=Path(roots) if roots else None,
        call_limits=_call_limits(call_limits or {}, env),
        witnesses=_witness_policy(witnesses, witness_threshold, env),
    )


# CallLimits field -> its environment variable; `civitas serve` names the flags after the field.
LIMIT_VARIABLES = {
    "streams_per_caller": "CIVITAS_MAX_STREAMS_PER_CALLER",
    "calls_per_caller": "CIVITAS_MAX_CALLS_PER_CALLER",
    "stream_lifetime_seconds": "CIVITAS_MAX_STREAM_SECONDS",
    "stream_recheck_seconds": "CIVITAS_STREAM_RECHECK_SECONDS",
    "rpc_workers": "CIVITAS_RPC_WORKERS",
}


def _call_limits(flags: Mapping[str, float | None], env: Mapping[str, str]) -> CallLimits:
    defaults = CallLimits()
    values: dict[str, float] = {}
    for name, variable in LIMIT_VARIABLES.items():
        flag = flags.get(name)
        value = flag if flag is not None else _number(env, variable, getattr(defaults, name))
        values[name] = value if name.endswith("_seconds") else int(value)
    limits = CallLimits(**values)  # type: ignore[arg-type]
    limits.check()
    return limits


def _witness_policy(
    given: Sequence[Sequence[str]], threshold: int | None, env: Mapping[str, str]
) -> WitnessPolicy | None:
    """--witness URL VKEY (repeatable), else $CIVITAS_WITNESSES ("URL VKEY,URL VKEY");
    --witness-threshold, else $CIVITAS_WITNESS_THRESHOLD, else every witness."""
    pairs = [tuple(pair) for pair in given] or [
        tuple(item.split()) for item in env.get("CIVITAS_WITNESSES", "").split(",") if item.strip()
    ]
    name = "--witness/CIVITAS_WITNESSES"
    witnesses = []
    for pair in pairs:
        if len(pair) != 2 or not pair[0].startswith(("http://", "https://")):
            raise ConfigError(f"{name}: each witness is an http(s) URL and a verifier key")
        try:
            witnesses.append(Witness(pair[0], WitnessKey.parse(pair[1])))
        except WitnessKeyError as error:
            raise ConfigError(f"{name}: {error}") from None
    if len({witness.key.public_key for witness in witnesses}) != len(witnesses):
        raise ConfigError(f"{name}: a witness key is given twice")
    text = env.get("CIVITAS_WITNESS_THRESHOLD")
    k = threshold if threshold is not None else (int(text) if text else len(witnesses))
    if not witnesses:
        if threshold is not None:
            raise ConfigError("--witness-threshold needs --witness")
        return None
    if not 1 <= k <= len(witnesses):
        raise ConfigError(f"--witness-threshold must be between 1 and {len(witnesses)}")
    refresh = _number(env, "CIVITAS_WITNESS_REFRESH_SECONDS", REFRESH_SECONDS)
    return WitnessPolicy(tuple(witnesses), k, refresh)


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, not {text!r}")


def _claim_value(value: str, name: str) -> str:
    """RFC 7519 §4.1.1/§4.1.3: a StringOrURI. Control characters and surrounding spaces are
    refused: relying services compare the claim byte for byte with their own copy."""
    if value != value.strip() or not value.isprintable() or len(value) > 256:
        raise ConfigError(f"{name} must be printable text without surrounding spaces")
    return value


def _database_url(given: str | None, folder: Path) -> str:
    """The database named, checked before any command touches it; else SQLite in the data
    folder (which the command creates)."""
    if not given:
        return f"{SQLITE_SCHEME}{folder / 'civitas.sqlite'}"
    if given.startswith(POSTGRES_SCHEMES):
        return given
    name = "--database/CIVITAS_DATABASE"
    if not given.startswith(SQLITE_SCHEME):
        raise ConfigError(
            f"{name} must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB, not {given!r}"
        )
    # Always absolute, as ledger.store reads it: sqlite:///srv/x and sqlite:////srv/x are /srv/x.
    path = Path("/" + urlparse(given).path.lstrip("/"))
    if given.endswith("/") or path.is_dir():
        raise ConfigError(f"{name} {given!r} names a folder, not a database file")
    # A typo in the folder must not grow a new tree of folders with an empty ledger in it.
    if not path.parent.is_dir():
        raise ConfigError(f"{name}: the folder {path.parent} does not exist")
    return given


def _optional_port(value: int | str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    return _port(value, name)


def _port(value: int | str, name: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a port number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name} must be between 0 and 65535, not {port}")
    return port


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value
