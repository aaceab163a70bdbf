#!/usr/bin/env python3
"""Writes key_seal_kat.txt: the MACs of a sealed key's rows (store/key_seal.rs), made here
with Python's hmac and hashlib, not with coffer. One `key` line (the `keys` row and the audit
entry it is tied to), then one `version` line per version.

    python3 key_seal_kat.py > key_seal_kat.txt
"""
import hashlib
import hmac
import struct

SECRET = bytes(range(32))
STORE_ID = "00112233445566778899aabbccddeeff"


def hkdf(salt, ikm, info):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


K_ROWS = hkdf(STORE_ID.encode(), SECRET, b"coffer key rows v1")


def text(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


def mac(data):
    return hmac.new(K_ROWS, data, hashlib.sha256).digest()


NAME, SPEC, CREATED, STATE, PERIOD, MIN, ACTIVE, SEQ = "app", "aes-256", 1_700_000_000, "enabled", 86_400, 2, 3, 9
row = (b"coffer key row v1\0" + text(NAME) + text(SPEC) + struct.pack(">q", CREATED) + text(STATE)
       + struct.pack(">BQ", 1, PERIOD) + struct.pack(">IIq", MIN, ACTIVE, SEQ))
print("key", NAME, SPEC, CREATED, STATE, PERIOD, MIN, ACTIVE, SEQ, mac(row).hex())
for version in (1, 2, 3):
    uuid = bytes([version]) * 16
    created = CREATED + version * 86_400
    data = b"coffer key version v1\0" + text(NAME) + struct.pack(">I", version) + uuid + struct.pack(">q", created)
    print("version", version, uuid.hex(), created, mac(data).hex())
