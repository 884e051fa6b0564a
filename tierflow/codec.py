"""AES-GCM payload encryption for Temporal, with key ids so keys can rotate.

Every payload (workflow inputs and results, activity arguments, update and query values,
memos and, with ``DefaultFailureConverterWithEncodedAttributes``, failure messages) leaves
the process encrypted. Search attributes and workflow ids are never encoded: keep PII out.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # generate_key() makes AES-256 keys
VALID_KEY_BYTES = (16, 24, 32)
SETTING = "payload_keys"
# Rotation phase 1: keys every process can read but none writes yet (see docs/security.md).
DECRYPT_ONLY_SETTING = "payload_decrypt_only_keys"


class KeyConfigError(ValueError):
    """The configured key list cannot be used (the message never contains key material)."""


class PayloadDecryptionError(ValueError):
    """A payload cannot be decrypted: unknown key id, or it was tampered with."""


def generate_key() -> str:
    """Return a new random AES-256 key, base64 encoded, for ``keyid:key`` in payload_keys."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _decode_key(key_id: str, text: str, setting: str = SETTING) -> bytes:
    text = text.strip()
    altchars = b"-_" if ("-" in text or "_" in text) else None  # URL-safe base64 too
    try:
        key = base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{setting}: key {key_id!r} is not valid base64") from None
    if len(key) not in VALID_KEY_BYTES:
        raise KeyConfigError(
            f"{setting}: key {key_id!r} has {len(key)} bytes; AES-GCM needs 16, 24 or 32"
        )
    return key


def parse_keys(text: str, setting: str = SETTING) -> list[tuple[str, bytes]]:
    """Parse ``id1:base64key,id2:base64key``; the first key encrypts, all of them decrypt."""
    keys: list[tuple[str, bytes]] = []
    for n, item in enumerate(p.strip() for p in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not encoded.strip():
            raise KeyConfigError(f"{setting}: entry {n + 1} is not 'keyid:base64key'")
        if any(key_id == k for k, _ in keys):
            raise KeyConfigError(f"{setting}: key id {key_id!r} appears twice")
        keys.append((key_id, _decode_key(key_id, encoded, setting)))
    return keys


class AesGcmCodec(PayloadCodec):
    """Encrypt with the first key; decrypt with whichever key id a payload names.

    ``decrypt_only`` keys are read but never written: rotation's first phase. With no
    encrypting key at all, payloads are written in clear (switching encryption on is a
    rotation from no key) and encrypted ones are still read.
    """

    def __init__(
        self,
        keys: Sequence[tuple[str, bytes]],
        decrypt_only: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        if not keys and not decrypt_only:
            raise KeyConfigError(f"{SETTING}: at least one key is needed")
        self.active_key_id: str | None = keys[0][0] if keys else None
        both = sorted({k for k, _ in keys} & {k for k, _ in decrypt_only})
        if both:
            raise KeyConfigError(
                f"{SETTING} and {DECRYPT_ONLY_SETTING}: key id {both[0]!r} is in both; a key "
                f"is decrypt-only (phase 1) or promoted (phase 2), so list it in one of them"
            )
        self.decrypt_only_key_ids = [k for k, _ in decrypt_only]
        self._ciphers = {key_id: AESGCM(key) for key_id, key in [*keys, *decrypt_only]}
        if len(self._ciphers) != len(keys) + len(decrypt_only):
            raise KeyConfigError(f"{SETTING}: key ids must be unique")

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each whole payload (metadata included) under the active key, if any."""
        if self.active_key_id is None:
            return list(payloads)
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass plain ones (from before encryption) through."""
        return [self.decrypt(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.active_key_id
        if key_id is None:
            raise KeyConfigError(f"{SETTING}: no key to encrypt with (only decrypt-only keys)")
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated data: relabelling a payload with another key id fails.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r}, which is not in {SETTING} or "
                f"{DECRYPT_ONLY_SETTING} (configured: {', '.join(self.key_ids) or 'none'}); "
                "add that key to decrypt it (a key must reach every process decrypt-only "
                "before any process encrypts with it)"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} failed authentication: "
                "it was modified or encrypted with another key of the same id"
            ) from None
        return Payload.FromString(plain)


def _setting_text(settings: Any, name: str) -> str:
    text = getattr(settings, name, "") or ""
    if hasattr(text, "get_secret_value"):
        text = text.get_secret_value()
    return str(text)


def codec_from_settings(settings: Any) -> AesGcmCodec | None:
    """Return the codec for payload_keys plus payload_decrypt_only_keys; None if neither is set."""
    keys = parse_keys(_setting_text(settings, SETTING))
    decrypt_only = parse_keys(
        _setting_text(settings, DECRYPT_ONLY_SETTING), setting=DECRYPT_ONLY_SETTING
    )
    return AesGcmCodec(keys, decrypt_only) if keys or decrypt_only else None


def encrypting_converter(codec: AesGcmCodec) -> DataConverter:
    """Return the pydantic converter with payloads and failure messages encrypted by codec."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def warn_if_in_clear(settings: Any) -> bool:
    """Log a warning when payloads go to Temporal unencrypted (no keys set): a long-running
    process says so at start, since the enterprise's contact then sits in clear in workflow
    histories. Return whether it warned."""
    if codec_from_settings(settings) is not None:
        return False
    logging.getLogger("tierflow").warning(
        "Temporal payloads are not encrypted: %s is unset, so workflow histories hold the "
        "enterprise's contact in clear (docs/security.md, payload encryption)",
        f"TIERFLOW_{SETTING.upper()}",
    )
    return True


def data_converter(settings: Any) -> DataConverter:
    """Return the converter every client and worker must use: encrypting when keys are set."""
    codec = codec_from_settings(settings)
    return pydantic_data_converter if codec is None else encrypting_converter(codec)
