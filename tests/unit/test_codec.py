"""AES-GCM payload codec: round trip, tamper detection, two-phase key rotation, clear errors."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from schemas.lifecycle import WorkflowState
from tests.utils.factories import make_request
from tierflow.codec import (
    ENCODING,
    KEY_ID_METADATA,
    AesGcmCodec,
    KeyConfigError,
    PayloadDecryptionError,
    data_converter,
    generate_key,
    parse_keys,
    warn_if_in_clear,
)
from tierflow.settings import Settings

SECRET = "13912345678"


def settings(keys: str) -> SimpleNamespace:
    return SimpleNamespace(payload_keys=keys)


def key_pair(key_id: str) -> str:
    return f"{key_id}:{generate_key()}"


async def encode_request(converter, phone: str = SECRET) -> tuple[WorkflowState, list[Payload]]:
    req = make_request()
    req.enterprise.contact_phone = phone
    state = WorkflowState(request=req)
    return state, await converter.encode([state])


async def test_round_trip_encrypts_every_payload() -> None:
    converter = data_converter(settings(key_pair("k1")))
    state, payloads = await encode_request(converter)
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    assert SECRET.encode() not in payload.SerializeToString()
    [back] = await converter.decode(payloads, [WorkflowState])
    assert back == state


async def test_same_value_encrypts_differently_each_time() -> None:
    converter = data_converter(settings(key_pair("k1")))
    _, first = await encode_request(converter)
    _, second = await encode_request(converter)
    assert first[0].data != second[0].data  # fresh nonce per payload


async def test_modified_ciphertext_fails_authentication() -> None:
    converter = data_converter(settings(key_pair("k1")))
    _, payloads = await encode_request(converter)
    data = bytearray(payloads[0].data)
    data[-20] ^= 0x01
    tampered = Payload(metadata=dict(payloads[0].metadata), data=bytes(data))
    with pytest.raises(PayloadDecryptionError, match="'k1' failed authentication"):
        await converter.decode([tampered], [WorkflowState])


async def test_relabelled_key_id_fails_authentication() -> None:
    shared = generate_key()
    converter = data_converter(settings(f"a:{shared},b:{shared}"))
    _, payloads = await encode_request(converter)
    relabelled = Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: b"b"}, data=payloads[0].data
    )
    with pytest.raises(PayloadDecryptionError, match="'b' failed authentication"):
        await converter.decode([relabelled], [WorkflowState])


async def test_rotation_old_payloads_decrypt_after_new_key_goes_first() -> None:
    old = key_pair("2024-01")
    before = data_converter(settings(old))
    state, old_payloads = await encode_request(before)

    after = data_converter(settings(f"{key_pair('2025-06')},{old}"))
    [back] = await after.decode(old_payloads, [WorkflowState])
    assert back == state
    _, new_payloads = await encode_request(after)
    assert new_payloads[0].metadata[KEY_ID_METADATA] == b"2025-06"
    # a process still on the old key list cannot read the new key's payloads
    with pytest.raises(PayloadDecryptionError, match="'2025-06'"):
        await before.decode(new_payloads, [WorkflowState])


async def test_unknown_key_id_error_names_the_key_id() -> None:
    writer = data_converter(settings(key_pair("retired-7")))
    _, payloads = await encode_request(writer)
    reader = data_converter(settings(key_pair("current")))
    with pytest.raises(PayloadDecryptionError) as err:
        await reader.decode(payloads, [WorkflowState])
    assert "'retired-7'" in str(err.value)
    assert "current" in str(err.value)


async def test_plain_payloads_from_before_encryption_still_decode() -> None:
    state, plain = await encode_request(pydantic_data_converter)
    converter = data_converter(settings(key_pair("k1")))
    [back] = await converter.decode(plain, [WorkflowState])
    assert back == state


def test_no_keys_gives_the_plain_pydantic_converter() -> None:
    assert data_converter(settings("")) is pydantic_data_converter
    assert data_converter(SimpleNamespace()) is pydantic_data_converter  # field not added yet


def test_a_process_without_keys_says_its_payloads_are_in_clear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="tierflow"):
        assert warn_if_in_clear(settings(""))
        assert not warn_if_in_clear(settings(key_pair("k1")))
    [warning] = caplog.records
    assert "TIERFLOW_PAYLOAD_KEYS is unset" in warning.getMessage()


def test_converter_encodes_failure_attributes() -> None:
    converter = data_converter(settings(key_pair("k1")))
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    assert isinstance(converter.payload_codec, AesGcmCodec)


def test_generate_key_is_random_aes256() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(base64.b64decode(first)) == 32


def test_first_key_encrypts_and_all_decrypt() -> None:
    codec = AesGcmCodec(parse_keys(f"{key_pair('new')}, {key_pair('old')}"))
    assert codec.active_key_id == "new"
    assert codec.key_ids == ["new", "old"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nokey", "entry 1 is not 'keyid:base64key'"),
        (":abc", "entry 1 is not 'keyid:base64key'"),
        ("k1:!!!notbase64!!!", "key 'k1' is not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "key 'k1' has 5 bytes"),
        ("k1:{k},k1:{k}", "key id 'k1' appears twice"),
    ],
)
def test_bad_key_lists_name_the_field_and_reason(text: str, reason: str) -> None:
    text = text.replace("{k}", generate_key())
    with pytest.raises(KeyConfigError) as err:
        parse_keys(text)
    assert str(err.value).startswith("payload_keys: ")
    assert reason in str(err.value)


def test_errors_never_show_key_material() -> None:
    key = base64.b64encode(b"x" * 20).decode()
    with pytest.raises(KeyConfigError) as err:
        parse_keys(f"k1:{key}")
    assert key not in str(err.value)


# ------------------------------------------------------------------ two-phase rotation
def phased(keys: str, decrypt_only: str = "") -> SimpleNamespace:
    return SimpleNamespace(payload_keys=keys, payload_decrypt_only_keys=decrypt_only)


async def test_decrypt_only_key_reads_but_never_writes() -> None:
    old, new = key_pair("2024-01"), key_pair("2025-06")
    phase1 = data_converter(phased(old, decrypt_only=new))
    promoted = data_converter(phased(new, decrypt_only=old))
    _, written = await encode_request(phase1)
    assert written[0].metadata[KEY_ID_METADATA] == b"2024-01"  # still writes under the old key
    state, from_promoted = await encode_request(promoted)
    [back] = await phase1.decode(from_promoted, [WorkflowState])  # reads the new key's payloads
    assert back == state
    [_] = await promoted.decode(written, [WorkflowState])


async def test_decrypt_only_keys_alone_write_in_clear_and_read_encrypted() -> None:
    key = key_pair("first")
    switching_on = data_converter(phased("", decrypt_only=key))
    _, plain = await encode_request(switching_on)
    assert plain[0].metadata["encoding"] != ENCODING  # phase 1 of turning encryption on
    state, sealed = await encode_request(data_converter(phased(key)))
    [back] = await switching_on.decode(sealed, [WorkflowState])
    assert back == state


def test_a_key_in_both_lists_is_refused() -> None:
    key = key_pair("2025-06")
    with pytest.raises(KeyConfigError, match="key id '2025-06' is in both"):
        data_converter(phased(key, decrypt_only=key))


def test_bad_decrypt_only_entries_name_their_setting() -> None:
    with pytest.raises(KeyConfigError) as err:
        data_converter(phased(key_pair("k1"), decrypt_only="k2:!!!"))
    assert str(err.value) == "payload_decrypt_only_keys: key 'k2' is not valid base64"


async def test_missing_key_error_says_how_to_roll_it_out() -> None:
    _, payloads = await encode_request(data_converter(phased(key_pair("2025-06"))))
    reader = data_converter(phased(key_pair("2024-01")))
    with pytest.raises(PayloadDecryptionError, match="decrypt-only before any process encrypts"):
        await reader.decode(payloads, [WorkflowState])


def test_settings_read_the_decrypt_only_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    key = key_pair("2025-06")
    monkeypatch.setenv("TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS", key)
    codec = data_converter(Settings(_env_file=None)).payload_codec
    assert isinstance(codec, AesGcmCodec)
    assert codec.active_key_id is None and codec.decrypt_only_key_ids == ["2025-06"]
