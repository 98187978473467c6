"""labkit/apiserver/strategy.py: what the server sets on an object before it is stored."""

from __future__ import annotations

import uuid

from labkit.apiserver import strategy


def test_new_uid_is_a_random_version_4_uuid_written_as_str_uuid4_writes_it():
    uids = {strategy.new_uid() for _ in range(2000)}
    assert len(uids) == 2000
    for text in uids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, dashes at 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every other bit is random: over 2000 uids each of the 122 free bits was seen both ways
    ints = [uuid.UUID(text).int for text in uids]
    fixed = {127 - 48, 127 - 49, 127 - 50, 127 - 51, 127 - 64, 127 - 65}  # version and variant bits
    for bit in set(range(128)) - fixed:
        assert {(i >> bit) & 1 for i in ints} == {0, 1}
