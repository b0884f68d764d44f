"""G.711 against the reference (audioop is Sun's ITU G.711 code) and known values."""

import warnings

import numpy as np
import pytest

from vts_masking.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_LINEAR = np.arange(-32768, 32768, dtype=np.int16)


def _ref_decode(fn, code: int) -> int:
    return int.from_bytes(fn(bytes([code]), 2), "little", signed=True)


@pytest.mark.parametrize("code", range(256))
def test_ulaw_decode_matches_reference_for_every_code(code):
    assert g711.ulaw_decode_sample(code) == _ref_decode(audioop.ulaw2lin, code)


@pytest.mark.parametrize("code", range(256))
def test_alaw_decode_matches_reference_for_every_code(code):
    assert g711.alaw_decode_sample(code) == _ref_decode(audioop.alaw2lin, code)


def test_ulaw_encode_matches_reference_for_every_16bit_value():
    assert g711.encode("PCMU", ALL_LINEAR) == audioop.lin2ulaw(ALL_LINEAR.tobytes(), 2)


def test_alaw_encode_matches_reference_for_every_16bit_value():
    assert g711.encode("PCMA", ALL_LINEAR) == audioop.lin2alaw(ALL_LINEAR.tobytes(), 2)


def test_known_ulaw_values():
    assert g711.ulaw_decode_sample(0xFF) == 0
    assert g711.ulaw_decode_sample(0x7F) == 0
    assert g711.ulaw_decode_sample(0x80) == 32124
    assert g711.ulaw_decode_sample(0x00) == -32124
    assert g711.ulaw_encode_sample(0) == 0xFF
    assert g711.ulaw_encode_sample(32767) == 0x80
    assert g711.ulaw_encode_sample(-32768) == 0x00


def test_alaw_sign_is_positive_with_bit7_set():
    # the aiortp bug: A-law sign inverted. 0xD5 is +8, 0x55 is -8, 0xAA is max positive.
    assert g711.alaw_decode_sample(0xD5) == 8
    assert g711.alaw_decode_sample(0x55) == -8
    assert g711.alaw_decode_sample(0xAA) == 32256
    assert g711.alaw_decode_sample(0x2A) == -32256
    assert g711.alaw_encode_sample(1000) & 0x80
    assert not g711.alaw_encode_sample(-1000) & 0x80


def test_encode_decode_roundtrip_is_identity_on_codes():
    codes = bytes(range(256))
    for codec in ("PCMU", "PCMA"):
        again = g711.encode(codec, g711.decode(codec, codes))
        dec = g711.decode(codec, codes)
        # µ-law has two zero codes (0x7F, 0xFF): compare decoded values, which are unique
        assert np.array_equal(g711.decode(codec, again), dec)


def test_transcode_ulaw_to_alaw_matches_reference_path():
    codes = bytes(range(256))
    ref = audioop.lin2alaw(audioop.ulaw2lin(codes, 2), 2)
    assert g711.transcode("PCMU", "PCMA", codes) == ref


def test_transcode_alaw_to_ulaw_matches_reference_path():
    codes = bytes(range(256))
    ref = audioop.lin2ulaw(audioop.alaw2lin(codes, 2), 2)
    assert g711.transcode("PCMA", "PCMU", codes) == ref


def test_encode_clips_out_of_range_floats():
    assert g711.encode("PCMU", np.array([1e9, -1e9])) == bytes([0x80, 0x00])


def test_silence_codes_decode_to_zero():
    assert g711.decode("PCMU", bytes([g711.SILENCE["PCMU"]]))[0] == 0
    assert abs(int(g711.decode("PCMA", bytes([g711.SILENCE["PCMA"]]))[0])) <= 8
