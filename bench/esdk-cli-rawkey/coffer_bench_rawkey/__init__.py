"""Provider ``coffer-raw-aes`` for aws-encryption-cli: a raw AES wrapping key from a file.

    aws-encryption-cli -e ... --wrapping-keys provider=coffer-raw-aes key=NAME path=KEYFILE

KEYFILE holds 16, 24 or 32 raw bytes (what ``coffer --key aes:KEYFILE`` reads, minus
coffer's base64 form). Without ``path=`` the file named by $COFFER_BENCH_KEY_FILE is used.
The key namespace (provider id) is ``coffer``, coffer's default, so with NAME set to the
key file's name the CLI's messages and coffer's carry the same encrypted-data-key
identity and decrypt each other. For benchmarks: the key is read once per process.
"""

import os

from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

_WRAPPING = {
    16: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    24: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    32: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}


def _read_key(path):
    with open(path, "rb") as handle:
        material = handle.read()
    if len(material) not in _WRAPPING:
        raise ValueError(
            "coffer-raw-aes: %s holds %d bytes; want 16, 24 or 32" % (path, len(material))
        )
    return material


class CofferRawAesProvider(RawMasterKeyProvider):
    """Raw AES master keys in namespace ``coffer``; every key id maps to the same key file."""

    provider_id = "coffer"
    key_path = None  # set by provider(); the base class builds its state in __new__
    _material = None

    def _get_raw_key(self, key_id):
        if self._material is None:
            self._material = _read_key(self.key_path)
        return WrappingKey(
            wrapping_algorithm=_WRAPPING[len(self._material)],
            wrapping_key=self._material,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )


def provider(**kwargs):
    """Entry point. The CLI passes key_ids=[...] and every other key=value as a list."""
    paths = kwargs.get("path") or [os.environ.get("COFFER_BENCH_KEY_FILE", "")]
    if not paths[0]:
        raise ValueError("coffer-raw-aes: give path=KEYFILE or set COFFER_BENCH_KEY_FILE")
    instance = CofferRawAesProvider()
    instance.key_path = paths[0]
    return instance
