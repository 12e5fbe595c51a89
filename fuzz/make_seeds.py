#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (corpus/<target>/seed-*) from the
known-answer vectors in tests/vectors/send-v3.json and a few valid headers and links. The
layouts of the inputs are described at the top of each fuzz_targets/<target>.rs.

    fuzz/make_seeds.py        (rerunning it rewrites the same files)
"""
import base64
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = json.loads((HERE.parent / "tests/vectors/send-v3.json").read_text())


def b64(text):
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def write(target, name, data):
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


# ece_decrypt: even first byte = ciphertext under the all-zero (0x00) or all-0xff (0x02)
# secret, then a count of u16 cut sizes, the cuts, the ciphertext; odd = a round trip.
SECRET_MODE = {bytes(16): 0x00, b"\xff" * 16: 0x02}
for case in VECTORS["ece"]:
    secret, ciphertext = b64(case["secret"]), b64(case["ciphertext"])
    if secret in SECRET_MODE and len(ciphertext) < 4096:
        mode = bytes([SECRET_MODE[secret]])
        write("ece_decrypt", f"vector-{case['plaintext_len']}", mode + b"\0" + ciphertext)
        cuts = struct.pack("<HH", 5, 17)
        write("ece_decrypt", f"vector-{case['plaintext_len']}-cut", mode + b"\2" + cuts + ciphertext)
# Round trips: chunks, tail (u16), cuts, an optional tampering and fill bytes, as
# `arbitrary` reads them; any bytes are a valid input.
write("ece_decrypt", "round-trip-small", b"\x01\x00\x40\x00" + b"sealdrop" * 4)
write("ece_decrypt", "round-trip-records", b"\x01\x02\x10\x00\x01\x00\x80\x00\x02\x03" + bytes(range(64)))

# metadata: first byte = key (bits 2-3: zero, 0xff, 00..0f secret) | kind (0 encrypted
# field, 1 decrypted JSON, 2 built value).
KEY = {bytes(16): 0, b"\xff" * 16: 1, bytes(range(16)): 2}
for i, case in enumerate(VECTORS["metadata"]):
    key = KEY.get(b64(case["secret"]))
    if key is None:
        continue
    write("metadata", f"vector-{i}-encrypted", bytes([key << 2]) + case["ciphertext"].encode())
    write("metadata", f"vector-{i}-json", bytes([key << 2 | 1]) + case["plaintext"].encode())
    if i == 0:
        standard = base64.b64encode(b64(case["ciphertext"])).decode()
        write("metadata", f"vector-{i}-standard-padded", bytes([key << 2]) + standard.encode())
write("metadata", "built", b"\x02" + b"report.pdf\x00\x01\x02\x03\x04\x05\x06\x07application/pdf")

# share_link: whatever a user pastes.
for i, case in enumerate(VECTORS["password"]):
    write("share_link", f"vector-{i}", case["url"])
write("share_link", "prefix-port", "https://Files.Example.COM:8443/send/download/0123456789abcdef/#AAECAwQFBgcICQoLDA0ODw==")
write("share_link", "ipv6", "  http://[::1]:8080/download/deadbeefcafe0001#_____________________w\n")

# auth_header: Authorization values.
for i, case in enumerate(VECTORS["hmac"]):
    write("auth_header", f"send-v1-{i}", "send-v1 " + case["signature"])
write("auth_header", "send-v1-nonce", "SEND-V1 " + VECTORS["hmac"][0]["nonce"])
write("auth_header", "basic", "Basic " + base64.b64encode(b"alice:correct horse:battery").decode())
write("auth_header", "bearer", "Bearer sd_2cUe3n0Xk1qZ-token.value~")
# The largest Basic value a parser reads (8 KiB), unpadded: its padded header would be longer,
# so it must be refused (the auth_header target found it accepted).
pair = b"user:" + b"a" * 6134
write("auth_header", "basic-near-limit", "Basic " + base64.b64encode(pair).decode().rstrip("="))
