#!/usr/bin/env python3
"""Known-answer vectors for the hierarchical keyring (`aws-kms-hierarchy`), computed
independently of coffer.

Regenerate with:

    python3 crypto-core/tests/data/hierarchy_kat.py > crypto-core/tests/data/hierarchy_kat.txt

Needs `cryptography` (tested with 48.0.0). The Rust tests read only the .txt output, so
Python is not needed at test time.

What it computes, per the ESDK spec (framework/aws-kms/aws-kms-hierarchical-keyring.md):

  derivedBranchKey = SP 800-108 counter-mode KDF, PRF HMAC-SHA256, 32 bytes:
                     HMAC(branchKey, [1]_32 || "aws-kms-hierarchy" || 0x00 || salt || [256]_32)
                     here with `cryptography`'s KBKDFHMAC (counter before the fixed input,
                     rlen = llen = 4, label, context = salt; it inserts the 0x00 separator)
  AAD              = "aws-kms-hierarchy" || branch key id (UTF-8) || version (16) || EC
  EDK ciphertext   = salt (16) || IV (12) || version (16) || AES-256-GCM(derived, IV, AAD,
                     data key) || tag (16)

Cross-checks made before anything is printed:
  * the KDF vectors C.1-C.5 (label "aws-kms-hierarchy") and B.1-B.5 (raw fixed input) of
    the AWS Material Providers Library (AwsCryptographyPrimitives/test/
    TestKDF_TestVectors.dfy, as copied in aws-encryption-sdk-javascript
    modules/kdf-ctr-mode-node/test/testvectors.ts) must come out of KBKDFHMAC unchanged;
    they are printed too, so the Rust KDF is pinned to AWS's own vectors;
  * if the AWS Material Providers Library for Python is installed
    (`aws-cryptographic-material-providers`, tested with 1.11.3), its generated
    `KdfCtr.KdfCounterMode` must agree, its `KmsHierarchyUnwrapKeyMaterial` must unwrap every
    EDK printed here, and one extra EDK wrapped by its `KmsHierarchyWrapKeyMaterial` (random
    salt and IV, so that case changes on every run) is printed for Rust to unwrap.
"""

import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import CounterLocation, KBKDFHMAC, Mode

LABEL = b"aws-kms-hierarchy"


def kdf(ikm, label, context, fixed=None):
    if fixed is not None:
        k = KBKDFHMAC(
            algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=32, rlen=4,
            llen=None, location=CounterLocation.BeforeFixed, label=None, context=None,
            fixed=fixed,
        )
    else:
        k = KBKDFHMAC(
            algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=32, rlen=4, llen=4,
            location=CounterLocation.BeforeFixed, label=label, context=context, fixed=None,
        )
    return k.derive(ikm)


def serialize_ec(ec):
    """ESDK encryption-context serialization: empty => b""; else count || sorted pairs."""
    if not ec:
        return b""
    items = sorted((k.encode(), v.encode()) for k, v in ec.items())
    out = struct.pack(">H", len(items))
    for k, v in items:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


def wrap(branch_key, branch_key_id, version, salt, iv, data_key, ec_bytes):
    derived = kdf(branch_key, LABEL, salt)
    aad = LABEL + branch_key_id.encode() + version + ec_bytes
    ct_and_tag = AESGCM(derived).encrypt(iv, data_key, aad)
    return derived, aad, salt + iv + version + ct_and_tag


# AWS MPL KDF vectors (name, ikm, info, okm), byte values as written in the source.
AWS_C = [
    ("C.1",
     [125, 201, 189, 252, 37, 52, 4, 124, 254, 99, 233, 235, 41, 123, 119, 82, 81,
      73, 237, 125, 74, 252, 233, 198, 68, 15, 53, 14, 97, 239, 62, 208],
     [119, 218, 233, 62, 104, 155, 88, 29, 62, 6, 235, 1, 200, 211, 186, 2],
     [188, 232, 152, 114, 85, 137, 174, 192, 143, 152, 52, 179, 184, 15, 220, 63,
      241, 115, 144, 126, 85, 116, 231, 41, 253, 206, 18, 124, 247, 109, 183, 204]),
    ("C.2",
     [80, 22, 113, 23, 118, 68, 10, 32, 75, 169, 199, 192, 255, 220, 214, 60, 182,
      1, 126, 147, 171, 233, 110, 177, 35, 145, 217, 129, 30, 9, 80, 159],
     [210, 241, 192, 158, 103, 66, 27, 35, 143, 66, 168, 189, 82, 171, 211, 252],
     [54, 206, 174, 72, 237, 133, 85, 156, 93, 53, 120, 152, 118, 82, 89, 33, 114,
      98, 204, 236, 138, 57, 162, 118, 85, 92, 199, 232, 240, 252, 92, 97]),
    ("C.3",
     [57, 90, 16, 46, 83, 54, 189, 241, 27, 242, 237, 236, 246, 66, 54, 226, 74,
      112, 79, 156, 208, 13, 148, 71, 117, 211, 139, 57, 73, 69, 122, 236],
     [51, 15, 183, 124, 82, 229, 249, 86, 117, 148, 237, 162, 27, 243, 173, 108],
     [22, 55, 236, 141, 159, 163, 250, 236, 86, 47, 225, 103, 156, 225, 228, 146,
      166, 45, 244, 39, 136, 163, 205, 200, 116, 193, 20, 147, 112, 254, 210, 194]),
    ("C.4",
     [152, 192, 25, 223, 239, 154, 175, 67, 237, 250, 184, 146, 228, 243, 227, 1,
      128, 247, 228, 152, 142, 131, 149, 41, 60, 70, 244, 58, 166, 234, 86, 189],
     [243, 160, 102, 127, 219, 137, 115, 38, 187, 216, 48, 80, 151, 168, 148, 71],
     [191, 112, 86, 234, 220, 233, 122, 154, 100, 188, 230, 238, 239, 155, 54, 32,
      97, 35, 51, 160, 121, 235, 42, 64, 145, 105, 15, 153, 162, 89, 9, 156]),
    ("C.5",
     [166, 236, 116, 51, 140, 189, 192, 175, 42, 154, 51, 26, 208, 149, 76, 159,
      174, 162, 207, 4, 108, 232, 196, 240, 12, 57, 228, 155, 97, 75, 42, 66],
     [236, 169, 233, 45, 43, 25, 122, 243, 152, 191, 154, 55, 45, 134, 159, 220],
     [156, 11, 20, 251, 100, 227, 163, 161, 30, 45, 242, 2, 248, 246, 44, 11, 88,
      132, 189, 175, 95, 96, 61, 44, 98, 160, 212, 136, 140, 222, 57, 151]),
]
AWS_B = [
    ("B.1",
     [226, 4, 214, 212, 102, 170, 213, 7, 255, 175, 109, 109, 171, 10, 91, 38, 21,
      44, 158, 33, 231, 100, 55, 4, 100, 227, 96, 200, 251, 199, 101, 198],
     [123, 3, 185, 141, 159, 148, 184, 153, 229, 145, 243, 239, 38, 75, 113, 177,
      147, 251, 167, 4, 60, 126, 149, 60, 222, 35, 188, 83, 132, 188, 26, 98, 147,
      88, 1, 21, 250, 227, 73, 95, 216, 69, 218, 219, 208, 43, 214, 69, 92, 244,
      141, 15, 98, 179, 62, 98, 54, 74, 58, 128],
     [119, 13, 250, 182, 166, 164, 164, 190, 224, 37, 127, 243, 53, 33, 63, 120,
      216, 40, 123, 79, 213, 55, 213, 193, 255, 250, 149, 105, 16, 231, 199, 121]),
    ("B.2",
     [174, 238, 202, 96, 246, 137, 164, 65, 177, 59, 12, 188, 212, 65, 216, 45,
      240, 207, 135, 218, 194, 54, 41, 13, 236, 232, 147, 29, 248, 215, 3, 23],
     [88, 142, 192, 65, 229, 115, 59, 112, 49, 33, 44, 85, 56, 239, 228, 246, 170,
      250, 76, 218, 139, 146, 93, 38, 31, 90, 38, 136, 240, 7, 179, 172, 36, 14,
      225, 41, 145, 231, 123, 140, 184, 83, 134, 120, 97, 89, 102, 22, 74, 129,
      135, 43, 209, 207, 203, 251, 57, 164, 244, 80],
     [62, 129, 214, 17, 60, 238, 60, 82, 158, 206, 223, 248, 154, 105, 153, 206,
      37, 182, 24, 193, 94, 225, 209, 157, 69, 203, 55, 106, 28, 142, 35, 116]),
    ("B.3",
     [149, 200, 247, 110, 17, 54, 126, 181, 85, 38, 162, 179, 147, 174, 144, 101,
      131, 209, 203, 221, 71, 150, 33, 70, 245, 6, 204, 124, 172, 18, 244, 100],
     [202, 214, 14, 144, 75, 158, 156, 139, 254, 180, 168, 26, 127, 103, 211, 189,
      220, 192, 94, 100, 37, 88, 112, 64, 55, 112, 243, 83, 58, 230, 221, 99, 76,
      234, 165, 108, 83, 230, 136, 189, 19, 122, 230, 1, 137, 53, 243, 75, 159,
      176, 132, 234, 72, 228, 198, 136, 246, 187, 179, 136],
     [202, 250, 92, 160, 63, 95, 190, 42, 36, 32, 4, 171, 203, 211, 222, 16, 89,
      199, 64, 123, 30, 229, 121, 37, 81, 36, 175, 24, 155, 224, 181, 86]),
    ("B.4",
     [77, 5, 57, 31, 214, 251, 30, 41, 46, 120, 171, 150, 25, 177, 183, 42, 125,
      99, 238, 89, 215, 67, 93, 215, 24, 151, 185, 255, 126, 231, 174, 112],
     [240, 120, 230, 249, 183, 248, 45, 100, 85, 79, 166, 182, 4, 200, 8, 241,
      155, 31, 106, 214, 114, 125, 183, 170, 111, 28, 134, 105, 78, 16, 75, 82,
      86, 200, 180, 3, 153, 25, 100, 100, 129, 215, 234, 36, 82, 199, 44, 23, 163,
      232, 215, 211, 145, 98, 133, 70, 10, 165, 235, 129],
     [107, 22, 232, 245, 59, 131, 26, 165, 232, 107, 249, 122, 92, 79, 163, 125,
      8, 155, 193, 114, 218, 90, 30, 127, 102, 45, 212, 165, 149, 51, 154, 183]),
    ("B.5",
     [15, 104, 168, 47, 241, 103, 22, 52, 204, 145, 54, 197, 100, 169, 224, 42,
      118, 118, 33, 221, 116, 161, 191, 92, 36, 18, 155, 128, 130, 20, 183, 82],
     [100, 133, 153, 128, 156, 44, 78, 124, 106, 94, 108, 68, 159, 0, 49, 235,
      245, 92, 54, 97, 168, 149, 180, 77, 176, 87, 46, 232, 128, 131, 177, 244,
      177, 38, 2, 170, 85, 252, 29, 241, 80, 166, 90, 109, 110, 237, 160, 170,
      121, 164, 52, 161, 3, 155, 145, 181, 165, 143, 199, 241],
     [226, 151, 100, 15, 119, 104, 72, 93, 74, 110, 124, 254, 36, 95, 139, 250,
      132, 112, 13, 153, 118, 38, 146, 234, 26, 66, 92, 204, 2, 117, 232, 245]),
]


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


# Fixed inputs of the hierarchy cases. Non-ASCII id and context pin the UTF-8 handling.
CASES = [
    {
        "name": "ascii-id-rich-context",
        "suite": "0478",
        "branch_key": bytes(range(0x40, 0x60)),
        "branch_key_id": "coffer-kat-branch-key",
        "version": h("5f3a2b1c 9d8e 4f70 a1b2 c3d4e5f60718"),
        "salt": bytes(range(0xA0, 0xB0)),
        "iv": bytes(range(0xC0, 0xCC)),
        "data_key": bytes(range(0x10, 0x30)),
        "context": {"purpose": "kat", "clé": "värde ✓", "a": ""},
    },
    {
        "name": "utf8-id-empty-context",
        "suite": "0578",
        "branch_key": bytes.fromhex("ff" * 16 + "00" * 16),
        "branch_key_id": "tenant/ключ-✓",
        "version": h("00112233445566778899aabbccddeeff"),
        "salt": bytes(16),
        "iv": bytes([0xFF] * 12),
        "data_key": bytes(range(0xE0, 0x100)),
        "context": {},
    },
]


def check_aws_kdf_vectors():
    for name, ikm, info, okm in AWS_C:
        got = kdf(bytes(ikm), LABEL, bytes(info))
        assert got == bytes(okm), f"KBKDFHMAC disagrees with AWS vector {name}"
    for name, ikm, fixed, okm in AWS_B:
        got = kdf(bytes(ikm), None, None, fixed=bytes(fixed))
        assert got == bytes(okm), f"KBKDFHMAC disagrees with AWS raw vector {name}"


def mpl():
    """The AWS Material Providers Library's generated Python, or None."""
    try:
        import aws_cryptographic_material_providers  # noqa: F401 (sets up module paths)
        import _dafny
        import aws_cryptography_primitives.internaldafny.generated.AtomicPrimitives as AP
        import aws_cryptography_primitives.internaldafny.generated.AwsCryptographyPrimitivesTypes as PT
        import aws_cryptography_primitives.internaldafny.generated.KdfCtr as KdfCtr
        import aws_cryptographic_material_providers.internaldafny.generated.AlgorithmSuites as AS
        import aws_cryptographic_material_providers.internaldafny.generated.AwsCryptographyMaterialProvidersTypes as MT
        import aws_cryptographic_material_providers.internaldafny.generated.AwsKmsHierarchicalKeyring as HK
        import aws_cryptographic_material_providers.internaldafny.generated.MaterialWrapping as MW
        import smithy_dafny_standard_library.internaldafny.generated.Wrappers as W
        import importlib.metadata as md
    except ImportError:
        return None
    crypto = AP.default__.AtomicPrimitives(AP.default__.DefaultCryptoConfig()).value
    suites = {
        "0478": MT.ESDKAlgorithmSuiteId_ALG__AES__256__GCM__HKDF__SHA512__COMMIT__KEY(),
        "0578": MT.ESDKAlgorithmSuiteId_ALG__AES__256__GCM__HKDF__SHA512__COMMIT__KEY__ECDSA__P384(),
    }
    seq = lambda b: _dafny.Seq(b)  # noqa: E731

    class Mpl:
        version = md.version("aws-cryptographic-material-providers")

        @staticmethod
        def kdf(ikm, salt):
            r = KdfCtr.default__.KdfCounterMode(PT.KdfCtrInput_KdfCtrInput(
                PT.DigestAlgorithm_SHA__256(), seq(ikm), 32, W.Option_Some(seq(LABEL)),
                W.Option_Some(seq(salt))))
            assert r.is_Success, r
            return bytes(r.value)

        @staticmethod
        def _material(cls, c):
            m = cls()
            m.ctor__(seq(c["branch_key"]), seq(c["branch_key_id"].encode()), seq(c["version"]), crypto)
            return m

        @staticmethod
        def _suite(c):
            return AS.default__.GetESDKSuite(suites[c["suite"]])

        @staticmethod
        def unwrap(c, wrapped):
            m = Mpl._material(HK.KmsHierarchyUnwrapKeyMaterial, c)
            r = m.Invoke(MW.UnwrapInput_UnwrapInput(
                seq(wrapped), Mpl._suite(c), _dafny.Map({}),
                W.Result_Success(seq(serialize_ec(c["context"])))))
            assert r.is_Success, r
            return bytes(r.value.unwrappedMaterial)

        @staticmethod
        def wrap(c):
            m = Mpl._material(HK.KmsHierarchyWrapKeyMaterial, c)
            r = m.Invoke(MW.WrapInput_WrapInput(
                seq(c["data_key"]), Mpl._suite(c), _dafny.Map({}),
                W.Result_Success(seq(serialize_ec(c["context"])))))
            assert r.is_Success, r
            return bytes(r.value.wrappedMaterial)

    return Mpl


def main():
    check_aws_kdf_vectors()
    ref = mpl()
    out = []

    def p(line):
        out.append(line.rstrip())

    p("# Generated by hierarchy_kat.py (see its docstring); do not edit by hand.")
    p("# Blocks are separated by blank lines; values are hex unless the key ends in _text.")
    p(f"# cryptography {__import__('cryptography').__version__}"
      + (f"; cross-checked with aws-cryptographic-material-providers {ref.version}" if ref else
         "; AWS Material Providers Library not installed, no cross-check"))
    p("")
    for name, ikm, info, okm in AWS_C:
        p("type = kdf")
        p(f"name_text = AWS MPL TestKDF_TestVectors {name}")
        p(f"ikm = {bytes(ikm).hex()}")
        p(f"label = {LABEL.hex()}")
        p(f"context = {bytes(info).hex()}")
        p(f"okm = {bytes(okm).hex()}")
        p("")
    for name, ikm, fixed, okm in AWS_B:
        p("type = kdf-raw")
        p(f"name_text = AWS MPL TestKDF_TestVectors {name}")
        p(f"ikm = {bytes(ikm).hex()}")
        p(f"fixed = {bytes(fixed).hex()}")
        p(f"okm = {bytes(okm).hex()}")
        p("")
    for c in CASES:
        ec = serialize_ec(c["context"])
        derived, aad, edk = wrap(c["branch_key"], c["branch_key_id"], c["version"], c["salt"],
                                 c["iv"], c["data_key"], ec)
        if ref:
            assert ref.kdf(c["branch_key"], c["salt"]) == derived, "MPL KdfCtr disagrees"
            assert ref.unwrap(c, edk) == c["data_key"], "MPL cannot unwrap"
        p("type = hierarchy")
        p(f"name_text = {c['name']}")
        p("producer_text = python cryptography")
        p(f"suite = {c['suite']}")
        p(f"branch_key = {c['branch_key'].hex()}")
        p(f"branch_key_id = {c['branch_key_id'].encode().hex()}")
        p(f"version = {c['version'].hex()}")
        p(f"salt = {c['salt'].hex()}")
        p(f"iv = {c['iv'].hex()}")
        p(f"data_key = {c['data_key'].hex()}")
        p(f"context = {ec.hex()}")
        p(f"derived_key = {derived.hex()}")
        p(f"aad = {aad.hex()}")
        p(f"edk_ciphertext = {edk.hex()}")
        p("")
        if ref:
            # The reference implementation wraps with its own random salt and IV; the
            # Rust test can only unwrap this one (and checks its layout).
            edk = ref.wrap(c)
            assert AESGCM(kdf(c["branch_key"], LABEL, edk[:16])).decrypt(
                edk[16:28], edk[44:], LABEL + c["branch_key_id"].encode() + c["version"] + ec
            ) == c["data_key"], "cryptography cannot unwrap the MPL's EDK"
            p("type = hierarchy-unwrap")
            p(f"name_text = {c['name']} wrapped by the MPL")
            p(f"producer_text = aws-cryptographic-material-providers {ref.version}")
            p(f"suite = {c['suite']}")
            p(f"branch_key = {c['branch_key'].hex()}")
            p(f"branch_key_id = {c['branch_key_id'].encode().hex()}")
            p(f"version = {c['version'].hex()}")
            p(f"data_key = {c['data_key'].hex()}")
            p(f"context = {ec.hex()}")
            p(f"edk_ciphertext = {edk.hex()}")
            p("")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
