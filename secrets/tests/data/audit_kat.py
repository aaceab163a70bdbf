#!/usr/bin/env python3
"""Writes audit_kat.txt: audit entry hashes of the documented chain (store/audit.rs), made
here with Python's hashlib, not with coffer.

    python3 audit_kat.py > audit_kat.txt
"""
import hashlib
import struct


def entry_hash(seq, at, user, verb, name, detail, prev):
    h = hashlib.sha256(b"coffer audit v1\0" + struct.pack(">qq", seq, at))
    for field in (user.encode(), verb.encode(), name.encode(), detail.encode(), prev):
        h.update(struct.pack(">I", len(field)) + field)
    return h.digest()


prev = bytes(32)
for seq, (verb, name, detail) in enumerate(
    [("put", "/app/db", "version 1"), ("get-secure", "/app/db", "version 1"), ("key-create", "app", "")],
    start=1,
):
    prev = entry_hash(seq, 1_700_000_000 + seq, "alice (uid 1000)", verb, name, detail, prev)
    print(seq, 1_700_000_000 + seq, verb, name, detail or "-", prev.hex())
