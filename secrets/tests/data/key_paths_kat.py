#!/usr/bin/env python3
"""Writes key_paths_kat.txt: the MAC with which a key seals its paths (store/key_paths.rs),
made here with Python's hmac and hashlib, not with coffer. One line: the key's name, the
row secret (hex), the store id, the own paths and holes (comma-separated), the audit entry
and the MAC. A second line: the tag under K_params(K) (the MAC key of the parameter rows the
key protects, store/param_seal.rs) over the bytes "coffer"; a third, the tag under K_keys(K)
(the MAC key of the key's own rows, store/key_seal.rs) over the same bytes.

    python3 key_paths_kat.py > key_paths_kat.txt
"""
import hashlib
import hmac
import struct

SECRET = bytes(range(100, 132))
STORE_ID = "00112233445566778899aabbccddeeff"
NAME = "prod"
OWN = ["/app/prod", "/other"]
HOLES = ["/app/prod/db"]
SEQ = 42


def hkdf(salt, ikm, info):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def text(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


K_PATHS = hkdf(STORE_ID.encode(), SECRET, b"coffer key paths v1\0" + NAME.encode())
data = b"coffer key paths v3\0" + text(NAME)
for paths in (OWN, HOLES):
    data += struct.pack(">I", len(paths)) + b"".join(text(p) for p in paths)
data += struct.pack(">q", SEQ)
print(NAME, SECRET.hex(), STORE_ID, ",".join(OWN), ",".join(HOLES), SEQ,
      hmac.new(K_PATHS, data, hashlib.sha256).hexdigest())

K_ROWS = hkdf(STORE_ID.encode(), SECRET, b"coffer param rows v1\0" + NAME.encode())
print(hmac.new(K_ROWS, b"coffer", hashlib.sha256).hexdigest())

K_KEYS = hkdf(STORE_ID.encode(), SECRET, b"coffer key state v1\0" + NAME.encode())
print(hmac.new(K_KEYS, b"coffer", hashlib.sha256).hexdigest())
