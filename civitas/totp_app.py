"""The citizen's authenticator app, in software: what the demo and tests type TOTP codes from.

It knows only what a real app learns, the `otpauth://` URI shown at enrolment, and computes codes
with `pyotp`, independently of the server's own TOTP code (identity/totp.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyotp

TOTP_STEP_SECONDS = 30  # RFC 6238 section 5.2; what the server and every authenticator app use


@dataclass
class TotpApp:
    """The citizen's authenticator app: the shared seed from the `otpauth://` URI, and the time
    steps already spent. The server accepts each step once (RFC 6238 section 5.2) and one step
    either side of its clock, so `next_code` gives the current step's code, or the next one's
    when the current step is spent, waiting only when both are."""

    provisioning_uri: str
    authenticator_id: str
    last_step: int = -1
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _totp: pyotp.TOTP = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parsed = pyotp.parse_uri(self.provisioning_uri)
        if not isinstance(parsed, pyotp.TOTP):
            raise ValueError("not an otpauth://totp/ URI")
        self._totp = parsed

    def next_code(self) -> str:
        now_step = int(self.clock()) // TOTP_STEP_SECONDS
        step = max(now_step, self.last_step + 1)
        if step > now_step + 1:  # beyond the server's window: wait for the clock to catch up
            self.sleep((step - 1) * TOTP_STEP_SECONDS - self.clock())
        self.last_step = step
        return self._totp.at(step * TOTP_STEP_SECONDS)
