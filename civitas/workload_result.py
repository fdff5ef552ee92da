"""What a workload run saw (civitas/workload.py): every call with its status and latency, and
every write the server acknowledged, with the figures drawn from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

# TransactionService's writes: an acknowledged one's outcome is the case's new status.
TRANSACTION_STEPS = frozenset(
    {
        "SubmitTransaction",
        "StartReview",
        "RequestInformation",
        "ResumeReview",
        "ApproveTransaction",
        "RejectTransaction",
        "CompleteTransaction",
        "WithdrawTransaction",
        "ProvideInformation",
    }
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    method: str
    code: str  # a grpc.StatusCode name
    seconds: float
    expected: bool


@dataclass(frozen=True, slots=True)
class AcknowledgedWrite:
    """One write the server acknowledged: the RPC, the aggregate it wrote to, and what it
    recorded there (a transaction's new status, an authentication's outcome, …)."""

    method: str
    aggregate_id: str
    outcome: str


@dataclass
class WorkloadResult:
    clients: int
    seconds: float  # wall time from the first call to the last client's end
    calls: list[CallRecord]
    writes: list[AcknowledgedWrite]
    anomalies: list[str] = field(default_factory=list)  # answers that broke a promise
    journeys: int = 0  # citizens' journeys that ran to their last step

    def counts(self) -> Counter[tuple[str, str]]:
        """Calls by (method, status code name)."""
        return Counter((call.method, call.code) for call in self.calls)

    def unexpected(self) -> Counter[tuple[str, str]]:
        """Calls whose status the workload did not expect, by (method, code)."""
        return Counter((call.method, call.code) for call in self.calls if not call.expected)

    def codes(self) -> Counter[str]:
        return Counter(call.code for call in self.calls)

    @property
    def throughput(self) -> float:
        """Calls per second, over all clients."""
        return len(self.calls) / self.seconds if self.seconds else 0.0

    @property
    def write_throughput(self) -> float:
        """Acknowledged writes per second."""
        return len(self.writes) / self.seconds if self.seconds else 0.0

    def latency(self, method: str | None = None) -> dict[str, float]:
        """p50, p95, p99 and max latency in seconds, of one method or of every call."""
        samples = sorted(c.seconds for c in self.calls if method in (None, c.method))
        if not samples:
            return {}
        return {f"p{q}": _percentile(samples, q) for q in (50, 95, 99)} | {"max": samples[-1]}

    @property
    def citizen_ids(self) -> list[str]:
        return [w.aggregate_id for w in self.writes if w.method == "RegisterCitizen"]

    @property
    def transactions(self) -> dict[str, str]:
        """Each acknowledged transaction's last acknowledged status."""
        return {w.aggregate_id: w.outcome for w in self.writes if w.method in TRANSACTION_STEPS}

    def authentications(self) -> Counter[str]:
        """Completed authentication attempts acknowledged, by outcome (succeeded, failed)."""
        return Counter(w.outcome for w in self.writes if w.method == "CompleteAuthentication")

    def summary(self) -> str:
        latency = self.latency()
        lines = [
            f"{self.clients} clients, {self.seconds:.1f} s: {len(self.calls)} calls "
            f"({self.throughput:.1f}/s), {len(self.writes)} acknowledged writes "
            f"({self.write_throughput:.1f}/s), {self.journeys} whole journeys",
            "latency " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in latency.items()),
            "codes " + ", ".join(f"{code} {n}" for code, n in self.codes().most_common()),
        ]
        unexpected = self.unexpected()
        if unexpected:
            lines.append(
                "unexpected " + ", ".join(f"{m} {c} x{n}" for (m, c), n in unexpected.items())
            )
        lines.extend(f"anomaly: {anomaly}" for anomaly in self.anomalies)
        return "\n".join(lines)


def _percentile(ordered: Sequence[float], q: int) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, -(-q * len(ordered) // 100))
    return ordered[rank - 1]
