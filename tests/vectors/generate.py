#!/usr/bin/env python3
"""Known-answer test vectors for the Send v3 cryptography (PROTOCOL.md section 4).

An independent Python implementation (Python `cryptography` for every derivation,
cross-checked against `http_ece`) that writes send-v3.json for the Rust protocol
crate and the web client. All inputs are fixed, so a rerun reproduces the file
byte for byte.

    generate.py [OUTPUT]          write the vectors (default: send-v3.json next to this file)
    generate.py --check [FILE]    regenerate in memory; exit 1 with a one-line message if FILE differs

Encodings: "hex" = lowercase hex; "b64u" = base64url WITHOUT padding (what clients emit);
"b64" = standard base64 WITH padding (what the server emits for nonces). Secrets are 16 bytes.

Sections:
  keys      per secret: metadata_key = HKDF-SHA256(salt=empty, ikm=secret, info="metadata", 16);
            auth_key = HKDF(salt=empty, info="authentication", 64), also as auth_key_b64u (the
            `authorization` value sent at upload); ece[] = per 16-byte header salt the record key
            HKDF(salt, info="Content-Encoding: aes128gcm\\0", 16) and nonce base
            HKDF(salt, info="Content-Encoding: nonce\\0", 12).
  metadata  plaintext = the exact UTF-8 JSON text encrypted (compact, as JSON.stringify/serde_json
            emit it, non-ASCII unescaped); ciphertext = b64u(AES-128-GCM(metadata_key, iv = 12 zero
            bytes, no AAD) incl. the 16-byte tag). Each secret is used for one metadata only.
  ece       whole RFC 8188 aes128gcm body as Send writes it, b64: header salt(16) || rs u32 BE (65536)
            || idlen u8 (0), then records. Plaintext byte i = (i * 31 + 7) mod 251, length
            plaintext_len. Chunks of 65519 bytes; a non-last record is chunk || 0x01 zero-padded to
            65520 bytes (=> 65536 encrypted), the last is chunk || 0x02 unpadded; an exact multiple of
            65519 ends with a full 0x02 record (no empty record); empty plaintext = 21-byte header
            only. Nonce of record i = nonce_base XOR i (big-endian, last 4 bytes). Length is always
            21 + n + 17 * ceil(n / 65519).
  password  auth_key = b64u(PBKDF2-HMAC-SHA256(password UTF-8, salt = full share URL UTF-8 incl.
            "#secret", 100 iterations, 64 bytes)), the value POSTed to /api/password/:id.
  hmac      signature = b64u(HMAC-SHA256(key = raw auth key, msg = raw 16 nonce bytes)), i.e. the
            `Authorization: send-v1 <signature>` answer to `WWW-Authenticate: send-v1 <nonce>`.

http_ece (1.2.1; 1.1.0 has the same record logic) vs Send, from reading http_ece/__init__.py:
  * encrypt(version="aes128gcm") uses chunk size rs - 17 and loops over range(0, len, 65519), so
    for aes128gcm it does NOT add a padding-only record on exact multiples of 65519 (the
    "extra one on the loop" comment and `end = len + 1` apply only to legacy aesgcm/aesgcm128),
    and an empty input yields the 21-byte header with no record -- both exactly as Send does.
  * It never zero-pads: a record is chunk || 0x01/0x02. Send pads non-last records to rs - 16,
    which is the same single delimiter byte because chunks are rs - 17 bytes; the outputs would
    diverge only for a writer using shorter chunks.
  * iv() XORs the counter into the last 8 nonce bytes (u64), Send into the last 4 (u32): equal
    for every record index < 2^32.
  * keyid defaults to b"" (idlen 0), salt/rs as given: header identical.
  * decrypt() takes salt and rs from the header, decides "last record" by position, strips
    trailing zeros and checks the 0x01/0x02 delimiter; a header-only body decrypts to b"" (RFC
    8188 strictly needs at least one record, so Send's empty-file encoding relies on this).
  Hence for every vector here http_ece.encrypt is byte-identical to ours and http_ece.decrypt
  round-trips; this script asserts both (no case needs to be skipped).
"""
import base64
import hashlib
import hmac as std_hmac
import json
import os
import struct
import sys

import http_ece
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

RS = 65536
CHUNK = RS - 17  # plaintext bytes per record
HEADER_LEN = 21
ECE_LENGTHS = [0, 1, 65518, 65519, 65520, 131038, 131039, 200000]

SECRETS = [
    bytes(16),                                     # all zero
    b"\xff" * 16,                                  # all 0xff
    bytes(range(16)),                              # 00 01 .. 0f
    bytes((i * 37 + 11) % 256 for i in range(16)),  # patterned
    bytes.fromhex("00112233445566778899aabbccddeeff"),
]
KEY_SALTS = [bytes(16), bytes(range(0x10, 0x20))]


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64(b):
    return base64.b64encode(b).decode()


def hkdf(ikm, salt, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def metadata_key(secret):  # salt None = empty salt (equivalent to HashLen zero bytes)
    return hkdf(secret, None, b"metadata", 16)


def auth_key(secret):
    return hkdf(secret, None, b"authentication", 64)


def ece_keys(secret, salt):
    return (hkdf(secret, salt, b"Content-Encoding: aes128gcm\x00", 16),
            hkdf(secret, salt, b"Content-Encoding: nonce\x00", 12))


def ece_plaintext(n):
    return bytes((i * 31 + 7) % 251 for i in range(n))


def ece_salt(k):
    return bytes((0x80 + 16 * k + j) % 256 for j in range(16))


def ece_encrypt(secret, salt, plaintext):
    """Send's aes128gcm writer (app/ece.js), built directly on AESGCM."""
    key, nonce_base = ece_keys(secret, salt)
    aes = AESGCM(key)
    out = [salt + struct.pack(">IB", RS, 0)]
    count = -(-len(plaintext) // CHUNK)
    for i in range(count):
        chunk = plaintext[i * CHUNK:(i + 1) * CHUNK]
        if i == count - 1:
            record = chunk + b"\x02"
        else:
            record = (chunk + b"\x01").ljust(RS - 16, b"\x00")
        nonce = nonce_base[:8] + struct.pack(">I", struct.unpack(">I", nonce_base[8:])[0] ^ i)
        assert nonce == (int.from_bytes(nonce_base, "big") ^ i).to_bytes(12, "big")
        out.append(aes.encrypt(nonce, record, None))
    return b"".join(out)


def pbkdf2(password, url):
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=64, salt=url.encode(), iterations=100)
    key = kdf.derive(password.encode())
    assert key == hashlib.pbkdf2_hmac("sha256", password.encode(), url.encode(), 100, 64)
    return key


def sign(key, nonce):
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(nonce)
    sig = h.finalize()
    assert sig == std_hmac.new(key, nonce, "sha256").digest()
    return sig


def share_url(base, file_id, secret):
    return f"{base}/download/{file_id}/#{b64u(secret)}"


def metadata_plaintexts():
    octet = "application/octet-stream"
    files = [("notes.txt", 1234, "text/plain"), ("photo.jpg", 204800, "image/jpeg"),
             ("data.bin", 0, octet)]
    archive = [{"name": n, "size": s, "type": t} for n, s, t in files]
    return [
        # single file, every v3 field incl. a one-entry manifest
        {"name": "report.pdf", "size": 48213, "type": "application/pdf",
         "manifest": {"files": [{"name": "report.pdf", "size": 48213, "type": "application/pdf"}]}},
        # non-ASCII name (UTF-8 in the JSON text, not \\u escapes)
        {"name": "résumé 日本.pdf", "size": 65519, "type": "application/pdf",
         "manifest": {"files": [{"name": "résumé 日本.pdf", "size": 65519, "type": "application/pdf"}]}},
        # Send web single file: default type and empty manifest
        {"name": "hello.txt", "size": 5, "type": octet, "manifest": {}},
        # Send web multi-file upload: plain concatenation described by the manifest
        {"name": "Send-Archive.zip", "size": sum(f[1] for f in files), "type": "send-archive",
         "manifest": {"files": archive}},
        # ffsend field order (serde struct order: name, type, size)
        {"name": "backup.tar", "type": "application/x-tar", "size": 200000,
         "manifest": {"files": [{"name": "backup.tar", "type": "application/x-tar", "size": 200000}]}},
    ]


def build():
    keys = []
    for secret in SECRETS:
        ece = []
        for salt in KEY_SALTS:
            ck, nb = ece_keys(secret, salt)
            ece.append({"salt": salt.hex(), "content_key": ck.hex(), "nonce_base": nb.hex()})
        ak = auth_key(secret)
        keys.append({"secret": b64u(secret), "metadata_key": metadata_key(secret).hex(),
                     "auth_key": ak.hex(), "auth_key_b64u": b64u(ak), "ece": ece})

    metadata = []  # one metadata per secret: the zero IV must never repeat under a key
    for secret, obj in zip(SECRETS, metadata_plaintexts()):
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        ct = AESGCM(metadata_key(secret)).encrypt(bytes(12), text.encode(), None)
        metadata.append({"secret": b64u(secret), "plaintext": text, "ciphertext": b64u(ct)})

    ece = []  # secrets cycle through SECRETS; salt = ece_salt(index)
    for k, n in enumerate(ECE_LENGTHS):
        secret, salt, pt = SECRETS[k % len(SECRETS)], ece_salt(k), ece_plaintext(n)
        ct = ece_encrypt(secret, salt, pt)
        assert len(ct) == HEADER_LEN + n + 17 * -(-n // CHUNK), (n, len(ct))
        assert http_ece.decrypt(ct, key=secret, version="aes128gcm") == pt, n
        theirs = http_ece.encrypt(pt, salt=salt, key=secret, rs=RS, version="aes128gcm")
        assert len(theirs) == len(ct) and theirs == ct, f"http_ece encrypt differs for n={n}"
        ece.append({"secret": b64u(secret), "salt": salt.hex(), "rs": RS,
                    "plaintext_len": n, "ciphertext": b64(ct)})

    cases = [("hunter2", "https://send.example.com", "1a2b3c4d5e6f7081", SECRETS[2]),
             ("a", "https://send.example.com", "0123456789abcdef", SECRETS[0]),
             ("pässwörd 🔑 日本語", "https://send.example.com", "fedcba9876543210", SECRETS[3]),
             ("x" * 100, "http://127.0.0.1:8080", "deadbeefcafe0001", SECRETS[1])]
    password = []  # 1-char, non-ASCII and longer-than-HMAC-block (100 B) passwords
    for pw, base, file_id, secret in cases:
        url = share_url(base, file_id, secret)
        password.append({"password": pw, "url": url, "auth_key": b64u(pbkdf2(pw, url))})

    hmacs, pw_key = [], base64.urlsafe_b64decode(password[0]["auth_key"] + "==")
    signs = [(auth_key(SECRETS[0]), base64.b64decode("yRCdyQ1EMSA3mo4rqSkuNQ==")),  # web default
             (auth_key(SECRETS[2]), bytes(16)),
             (auth_key(SECRETS[3]), b"\xff" * 16),
             (pw_key, bytes(range(0xf0, 0x100)))]  # password-derived key
    for key, nonce in signs:
        hmacs.append({"auth_key": b64u(key), "nonce": b64(nonce), "signature": b64u(sign(key, nonce))})

    return {
        "about": "Generated by tests/vectors/generate.py with Python cryptography and http_ece; "
                 "do not edit.",
        "ece_plaintext_rule": "byte i of every ECE plaintext is (i * 31 + 7) mod 251",
        "keys": keys, "metadata": metadata, "ece": ece, "password": password, "hmac": hmacs,
    }


def render():
    return json.dumps(build(), indent=1, sort_keys=True) + "\n"


def main(argv):
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "send-v3.json")
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        sys.exit("usage: generate.py [--check] [OUTPUT]")
    path = args[0] if args else default
    text = render()
    if check:
        try:
            with open(path, encoding="utf-8") as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        if not same:
            print(f"{path} is stale or missing: rerun tests/vectors/generate.py", file=sys.stderr)
        return 0 if same else 1
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {path} ({len(text.encode())} bytes); http_ece agrees on all "
          f"{len(ECE_LENGTHS)} ECE vectors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
