#!/usr/bin/env python3
"""Writes audit_kat_v2.txt: the keyed audit chain of an upgraded store (store/audit.rs), made
here with Python's hmac and hashlib, not with coffer. Entries 1-2 are unkeyed (v1), the
upgrade's `audit-rekey` entry 3 and entry 4 are keyed (v2); the last line is the head MAC.

    python3 audit_kat_v2.py > audit_kat_v2.txt
"""
import hashlib
import hmac
import struct

SECRET = bytes(range(32))
STORE_ID = "00112233445566778899aabbccddeeff"
USER = "alice (uid 1000)"


def hkdf(salt, ikm, info):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


K_ENTRY = hkdf(STORE_ID.encode(), SECRET, b"coffer audit entry v2")
K_HEAD = hkdf(STORE_ID.encode(), SECRET, b"coffer audit head v2")


def fields(seq, at, verb, name, detail, prev):
    out = struct.pack(">qq", seq, at)
    for field in (USER.encode(), verb.encode(), name.encode(), detail.encode(), prev):
        out += struct.pack(">I", len(field)) + field
    return out


def v1(data):
    return hashlib.sha256(b"coffer audit v1\0" + data).digest()


def v2(data):
    return hmac.new(K_ENTRY, b"coffer audit v2\0" + data, hashlib.sha256).digest()


KEYED_FROM = 3
prev = bytes(32)
entries = [
    ("put", "/app/db", "version 1"),
    ("get-secure", "/app/db", "version 1"),
    ("audit-rekey", "audit", "entries 1-2 were hashed without a key"),
    ("label", "/app/db", "current -> 1"),
]
for seq, (verb, name, detail) in enumerate(entries, start=1):
    at = 1_700_000_000 + seq
    data = fields(seq, at, verb, name, detail, prev)
    prev = v2(data) if seq >= KEYED_FROM else v1(data)
    print("v2" if seq >= KEYED_FROM else "v1", seq, at, verb, name, detail, "|", prev.hex())
mac = hmac.new(K_HEAD, b"coffer audit head v2\0" + struct.pack(">qq", len(entries), KEYED_FROM) + prev,
               hashlib.sha256).digest()
print("head", len(entries), KEYED_FROM, mac.hex())
