"""benchmarks/sign_in_profile.py still finds every part it names, at a size a test can afford."""

from __future__ import annotations

from benchmarks import sign_in_profile


def test_every_part_is_found_and_inside_the_sign_in() -> None:
    plain, parts = sign_in_profile.profile(sign_ins=6, citizens=2)
    assert plain > 0
    figures = dict(parts)
    whole = figures["whole sign-in"]
    # A function renamed or moved would leave its part at zero: the profile would lie.
    assert all(ms > 0 for ms in figures.values()), figures
    assert all(ms <= whole for ms in figures.values())
    for part in ("store reads for newer events", "cache unpickling"):
        assert figures[f"  {part}"] <= figures["aggregate loads"]
    for part in ("entry signing", "inserts and commits", "cache pickling", "snapshots"):
        assert figures[f"  {part}"] <= figures["saves"]
