#!/usr/bin/env python3
"""AWS KMS interop between coffer and the Python ESDK, against the local KMS endpoint
(AWS_ENDPOINT_URL, as scripts/test.sh sets it): a message the Python ESDK encrypts under a KMS
key decrypts with `coffer decrypt --key kms:ARN`, and a message coffer encrypts decrypts with
the Python ESDK. Usage: kms_interop.py COFFER_BINARY"""

import os
import subprocess
import sys
import tempfile

import aws_encryption_sdk
import boto3
import botocore.session
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider


def main():
    coffer = sys.argv[1]
    if not os.environ.get("AWS_ENDPOINT_URL"):
        sys.exit("error: AWS_ENDPOINT_URL is not set (scripts/test.sh starts moto)")
    arn = boto3.client("kms").create_key(Description="coffer interop")["KeyMetadata"]["Arn"]
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    provider = StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=botocore.session.Session()
    )
    context = {"purpose": "interop", "clé": "värde"}
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        for size in (0, 1, 4096, 100_000):
            plain = os.urandom(size)
            # Python ESDK -> coffer
            message, _ = client.encrypt(
                source=plain, key_provider=provider, encryption_context=context, frame_length=4096
            )
            path = os.path.join(d, "py.msg")
            with open(path, "wb") as f:
                f.write(message)
            out = subprocess.run(
                [coffer, "decrypt", "-i", path, "-o", "-", "--key", f"kms:{arn}"],
                capture_output=True,
            )
            if out.returncode != 0 or out.stdout != plain:
                failures += 1
                print(f"FAIL python -> coffer, {size} bytes: {out.stderr.decode()}")
            # coffer -> Python ESDK
            src = os.path.join(d, "plain")
            with open(src, "wb") as f:
                f.write(plain)
            enc = os.path.join(d, "coffer.msg")
            args = [coffer, "encrypt", "-i", src, "-o", enc, "--force", "--key", f"kms:{arn}"]
            for k, v in context.items():
                args += ["-c", f"{k}={v}"]
            out = subprocess.run(args, capture_output=True)
            if out.returncode != 0:
                failures += 1
                print(f"FAIL coffer encrypt, {size} bytes: {out.stderr.decode()}")
                continue
            with open(enc, "rb") as f:
                decrypted, header = client.decrypt(source=f.read(), key_provider=provider)
            if decrypted != plain or header.encryption_context.get("purpose") != "interop":
                failures += 1
                print(f"FAIL coffer -> python, {size} bytes")
    print(f"KMS interop with the Python ESDK {aws_encryption_sdk.__version__}: "
          f"{8 - failures} of 8 passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
