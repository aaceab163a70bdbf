#!/usr/bin/env python3
"""Writes root_key_kat.txt: root key files of the documented format (store/root.rs), made
here with Python's argon2-cffi and cryptography, not with coffer, so that a change to how
coffer reads or writes them shows as a failing test. Run once; the output is committed.

    pip install argon2-cffi cryptography && python3 root_key_kat.py > root_key_kat.txt
"""
import hashlib
import struct

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"coffer-root-key v1\n"
key = bytes(range(32))

plain = MAGIC + b"\x01" + key
plain += hashlib.sha256(plain).digest()

m, t, p = 64, 1, 1
salt = bytes(range(100, 116))
nonce = bytes(range(200, 212))
passphrase = b"correct horse battery staple"
head = MAGIC + b"\x02" + struct.pack(">III", m, t, p) + salt
kek = hash_secret_raw(passphrase, salt, time_cost=t, memory_cost=m, parallelism=p,
                      hash_len=32, type=Type.ID, version=19)
sealed = AESGCM(kek).encrypt(nonce, key, head)  # ciphertext || tag
protected = head + nonce + sealed
protected += hashlib.sha256(protected).digest()

print("key", key.hex())
print("passphrase", passphrase.decode())
print("plain", plain.hex())
print("protected", protected.hex())
