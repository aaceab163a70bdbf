#!/usr/bin/env python3
"""Decrypt ESDK decrypt-manifest directories with the Python ESDK.

Usage: python_decrypt.py [--verbose] DIR [DIR...]

Each DIR holds an `awses-decrypt` manifest (`manifest.json`, or legacy
`decrypt_message.json`) with its keys manifest, ciphertexts and plaintexts,
as written by `coffer-test-vectors encrypt --out DIR`. Every test is decrypted
with the Python ESDK (4.x) through raw AES / raw RSA keyrings of the AWS
Cryptographic Material Providers Library. Tests that need AWS KMS (or another
unsupported key type) are skipped.

Prints one `FAIL <dir>/<test>: <reason>` line per failure and finally
`N passed, N failed` (plus `, N skipped` when tests were skipped).
Exit status: 0 when nothing failed, 1 otherwise, 2 on a usage or setup error.

Setup: pip install aws-encryption-sdk aws-cryptographic-material-providers
"""

import argparse
import base64
import io
import json
import logging
import os
import sys

try:
    import aws_encryption_sdk
    from aws_encryption_sdk import CommitmentPolicy
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import (
        AesWrappingAlg,
        CreateDefaultCryptographicMaterialsManagerInput,
        CreateMultiKeyringInput,
        CreateRawAesKeyringInput,
        CreateRawRsaKeyringInput,
        CreateRequiredEncryptionContextCMMInput,
        PaddingScheme,
    )
except ImportError as exc:  # pragma: no cover - setup problem
    sys.stderr.write(
        "error: the Python ESDK is not installed (%s)\n"
        "install it with: pip install aws-encryption-sdk aws-cryptographic-material-providers\n" % exc
    )
    sys.exit(2)


class ManifestError(Exception):
    """A malformed manifest."""


class Unsupported(Exception):
    """A test this script cannot run (e.g. it needs AWS KMS)."""


AES_ALGS = {
    16: AesWrappingAlg.ALG_AES128_GCM_IV12_TAG16,
    24: AesWrappingAlg.ALG_AES192_GCM_IV12_TAG16,
    32: AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
}

RSA_PADDINGS = {
    ("pkcs1", None): PaddingScheme.PKCS1,
    ("oaep-mgf1", "sha1"): PaddingScheme.OAEP_SHA1_MGF1,
    ("oaep-mgf1", "sha256"): PaddingScheme.OAEP_SHA256_MGF1,
    ("oaep-mgf1", "sha384"): PaddingScheme.OAEP_SHA384_MGF1,
    ("oaep-mgf1", "sha512"): PaddingScheme.OAEP_SHA512_MGF1,
}


def resolve(base_dir, uri):
    """Resolve a file:// URI relative to base_dir, refusing escapes."""
    if not isinstance(uri, str) or not uri.startswith("file://"):
        raise ManifestError("unsupported URI %r (only file:// URIs)" % (uri,))
    rel = uri[len("file://"):]
    if not rel or os.path.isabs(rel):
        raise ManifestError("URI %r must be a relative path" % uri)
    parts = rel.replace("\\", "/").split("/")
    if ".." in parts:
        raise ManifestError("URI %r leaves the manifest directory" % uri)
    return os.path.join(base_dir, *[p for p in parts if p not in ("", ".")])


def read_json(path):
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise ManifestError("%s: %s" % (path, exc))


def load_keys(path):
    doc = read_json(path)
    header = doc.get("manifest", {})
    if header.get("type") != "keys" or header.get("version") not in (1, 2, 3):
        raise ManifestError("%s: not a keys manifest of version 1..3: %r" % (path, header))
    keys = doc.get("keys")
    if not isinstance(keys, dict):
        raise ManifestError("%s: `keys` must be an object" % path)
    return keys


def key_material(name, key):
    material = key.get("material")
    if isinstance(material, list):
        material = key.get("line-separator", "").join(material)
    if not isinstance(material, str):
        raise ManifestError("key %r has no material" % name)
    return material


class KeyringFactory(object):
    def __init__(self, keys):
        self.keys = keys
        self.mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())

    def keyring(self, description):
        kind = description.get("type")
        if kind is None:
            raise ManifestError("master key without `type`")
        if kind.startswith("aws-kms"):
            raise Unsupported("needs AWS KMS")
        if kind != "raw":
            raise Unsupported("unsupported key type %s" % kind)
        name = description.get("key")
        if name not in self.keys:
            raise ManifestError("unknown key %r" % (name,))
        key = self.keys[name]
        namespace = description.get("provider-id")
        if not namespace:
            raise ManifestError("raw master key without provider-id")
        key_name = key.get("key-id", name)
        algorithm = description.get("encryption-algorithm")
        if algorithm == "aes":
            if key.get("type") != "symmetric":
                raise ManifestError("key %r is not symmetric" % name)
            wrapping_key = base64.b64decode(key_material(name, key))
            if len(wrapping_key) not in AES_ALGS:
                raise ManifestError("key %r has a bad AES key length" % name)
            return self.mpl.create_raw_aes_keyring(
                input=CreateRawAesKeyringInput(
                    key_namespace=namespace,
                    key_name=key_name,
                    wrapping_key=wrapping_key,
                    wrapping_alg=AES_ALGS[len(wrapping_key)],
                )
            )
        if algorithm == "rsa":
            padding = (description.get("padding-algorithm"), description.get("padding-hash"))
            if padding[0] == "pkcs1":
                padding = ("pkcs1", None)
            if padding not in RSA_PADDINGS:
                raise Unsupported("unsupported RSA padding %r" % (padding,))
            pem = key_material(name, key).encode("ascii")
            if key.get("type") == "private":
                args = {"private_key": pem}
            elif key.get("type") == "public":
                # Encrypt-only: it cannot decrypt anything, leave it out.
                return None
            else:
                raise ManifestError("key %r is not an RSA key" % name)
            return self.mpl.create_raw_rsa_keyring(
                input=CreateRawRsaKeyringInput(
                    key_namespace=namespace,
                    key_name=key_name,
                    padding_scheme=RSA_PADDINGS[padding],
                    **args
                )
            )
        raise Unsupported("unsupported raw encryption algorithm %s" % algorithm)

    def materials_manager(self, test):
        master_keys = test.get("master-keys")
        if not isinstance(master_keys, list) or not master_keys:
            raise ManifestError("`master-keys` missing or empty")
        keyrings = [self.keyring(mk) for mk in master_keys]
        keyrings = [k for k in keyrings if k is not None]
        if not keyrings:
            raise ManifestError("no master key can decrypt (only public keys)")
        if len(keyrings) == 1:
            keyring = keyrings[0]
        else:
            keyring = self.mpl.create_multi_keyring(
                input=CreateMultiKeyringInput(child_keyrings=keyrings)
            )
        cmm = self.mpl.create_default_cryptographic_materials_manager(
            input=CreateDefaultCryptographicMaterialsManagerInput(keyring=keyring)
        )
        kind = test.get("cmm", "Default")
        if kind == "RequiredEncryptionContext":
            context = test.get("encryption-context") or {}
            cmm = self.mpl.create_required_encryption_context_cmm(
                input=CreateRequiredEncryptionContextCMMInput(
                    required_encryption_context_keys=sorted(context),
                    underlying_cmm=cmm,
                )
            )
        elif kind != "Default":
            raise Unsupported("unsupported cmm %s" % kind)
        return cmm


def decrypt(client, cmm, ciphertext, test):
    kwargs = {"materials_manager": cmm}
    context = test.get("encryption-context")
    if context is not None:
        kwargs["encryption_context"] = context
    method = test.get("decryption-method")
    if method == "streaming-unsigned-only":
        with client.stream(mode="decrypt-unsigned", source=io.BytesIO(ciphertext), **kwargs) as stream:
            return stream.read()
    if method is not None:
        raise ManifestError("unknown decryption-method %r" % method)
    plaintext, _header = client.decrypt(source=ciphertext, **kwargs)
    return plaintext


def run_dir(directory, verbose, counts):
    if os.path.isfile(directory):
        manifest_path = directory
    else:
        for name in ("manifest.json", "decrypt_message.json"):
            manifest_path = os.path.join(directory, name)
            if os.path.isfile(manifest_path):
                break
        else:
            raise ManifestError("%s: neither manifest.json nor decrypt_message.json found" % directory)
    doc = read_json(manifest_path)
    header = doc.get("manifest", {})
    if header.get("type") != "awses-decrypt" or header.get("version") not in (1, 2, 3, 4):
        raise ManifestError("%s: not an awses-decrypt manifest of version 1..4: %r" % (manifest_path, header))
    base = os.path.dirname(manifest_path)
    keys = load_keys(resolve(base, doc.get("keys")))
    factory = KeyringFactory(keys)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    tests = doc.get("tests")
    if not isinstance(tests, dict):
        raise ManifestError("%s: `tests` must be an object" % manifest_path)
    label = directory.rstrip("/")
    for test_id in sorted(tests):
        test = tests[test_id]
        where = "%s/%s" % (label, test_id)
        try:
            cmm = factory.materials_manager(test)
            with open(resolve(base, test.get("ciphertext")), "rb") as handle:
                ciphertext = handle.read()
            result = test.get("result")
            if result is None and "plaintext" in test:
                result = {"output": {"plaintext": test["plaintext"]}}
            if not isinstance(result, dict):
                raise ManifestError("missing `result`")
            expected = None
            if "output" in result:
                with open(resolve(base, result["output"]["plaintext"]), "rb") as handle:
                    expected = handle.read()
            elif "error" not in result:
                raise ManifestError("`result` has neither output nor error")
        except Unsupported as exc:
            counts["skipped"] += 1
            if verbose:
                print("SKIP %s: %s" % (where, exc))
            continue
        except (ManifestError, OSError, KeyError, TypeError) as exc:
            counts["failed"] += 1
            print("FAIL %s: bad test: %s" % (where, exc))
            continue

        try:
            plaintext = decrypt(client, cmm, ciphertext, test)
            error = None
        except Exception as exc:  # any decrypt failure
            plaintext = None
            error = "%s: %s" % (type(exc).__name__, exc)

        if expected is not None:
            if error is not None:
                reason = "decrypt failed: %s" % error
            elif plaintext != expected:
                reason = "plaintext mismatch (%d bytes, expected %d)" % (len(plaintext), len(expected))
            else:
                reason = None
        else:
            reason = None if error is not None else "decrypted although it must fail (%s)" % (
                result["error"].get("error-description", ""),
            )
        if reason is None:
            counts["passed"] += 1
            if verbose:
                print("PASS %s" % where)
        else:
            counts["failed"] += 1
            print("FAIL %s: %s" % (where, reason))


def main(argv=None):
    # The ESDK logs a traceback for every message it fails to decrypt; a
    # failure is reported here as one line instead.
    logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", metavar="DIR", nargs="+", help="decrypt manifest directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list passes and skips")
    args = parser.parse_args(argv)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    broken = False
    for directory in args.dirs:
        try:
            run_dir(directory, args.verbose, counts)
        except ManifestError as exc:
            broken = True
            print("ERROR %s" % exc)
    line = "%d passed, %d failed" % (counts["passed"], counts["failed"])
    if counts["skipped"]:
        line += ", %d skipped" % counts["skipped"]
    print(line)
    return 1 if counts["failed"] or broken else 0


if __name__ == "__main__":
    sys.exit(main())
