"""rnnrtl.synth.uart_wire: the host half of the UART wire format."""

import pytest

from rnnrtl.synth.uart_wire import MAX_BEATS, STATUS_LAST, STATUS_MARK, BeatCodec
from synth_helpers import TOY_MANIFEST


def test_codec():
    codec = BeatCodec(TOY_MANIFEST)
    frame = codec.encode_sequence([[-2, 200], [258, 1], [0, 255]])
    assert frame == bytes([3, 0, 0xFE, 0xFF, 200, 0x02, 0x01, 1, 0, 0, 255])
    assert codec.unpack(codec.pack([-2, 200], codec.in_lanes), codec.in_lanes) == [-2, 200]
    with pytest.raises(ValueError, match="does not fit lane 1"):
        codec.pack([0, 256], codec.in_lanes)
    codes, lasts = codec.decode_reply(bytes([STATUS_MARK, 5, 0, STATUS_MARK | STATUS_LAST, 1, 2]))
    assert codes == [[5], [0x201]] and lasts == [False, True]
    assert codec.reply_bytes == 3 * 3
    with pytest.raises(ValueError, match="lost sync"):
        codec.decode_reply(bytes([0x12, 0, 0]))
    with pytest.raises(ValueError, match=f"a frame holds 1..{MAX_BEATS} beats"):
        codec.encode_sequence([])
    with pytest.raises(ValueError, match="lacks the input/output stream description"):
        BeatCodec({})
