"""SM2 signatures with SM3, the national algorithms a deployment assessed under GB/T 39786-2021
(商用密码应用安全性评估, 密评) is expected to use; shaped like ``cryptography``'s Ed25519 keys so
the keyring (``signatures.Keyring``) treats both schemes alike.

- Algorithm: SM2 digital signature (GB/T 32918.2-2016) on the recommended 256-bit curve
  (GB/T 32918.5-2017), over e = SM3(Z ‖ M) (SM3: GB/T 32905-2016) with
  Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) and the default user ID ``1234567812345678``
  (GB/T 35276-2017, SM2 usage specification).
- Signature bytes: r ‖ s, 32 bytes each, big-endian: always 64 bytes, as long as an Ed25519
  signature, so a QR keeps its size. Tools that take the DER form (GB/T 35276-2017
  ``SM2Signature ::= SEQUENCE { R INTEGER, S INTEGER }``) get it from ``signature_der``.
- Public key: the uncompressed point 04 ‖ x ‖ y (GB/T 32918.1-2016), 65 bytes, or a PEM
  SubjectPublicKeyInfo (id-ecPublicKey with the SM2 curve, OID 1.2.156.10197.1.301), which
  ``openssl`` and GmSSL read.
- Private key: d, 32 bytes big-endian, 1 ≤ d ≤ n − 2 (GB/T 32918.1-2016).

Signing and verifying are GmSSL's (``gmssl-pyx``, a C extension of GmSSL 3). The public key is
derived from the private key once, when the key is loaded, by ``gmalg`` (pure Python): the
GmSSL binding cannot. GmSSL writes two lines (file and function names) to stderr whenever a
signature fails to verify; it has no switch for that.
"""

from __future__ import annotations

import base64
import secrets
import textwrap

import gmalg
import gmssl_pyx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

# the order of the base point G of the recommended curve (GB/T 32918.5-2017)
N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
DEFAULT_ID = b"1234567812345678"
SIGNATURE_BYTES = 64
# SubjectPublicKeyInfo DER before the 65-byte point: SEQUENCE { SEQUENCE { id-ecPublicKey,
# 1.2.156.10197.1.301 (SM2 curve) }, BIT STRING (66 bytes, 0 unused bits) }
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


class SM2PublicKey:
    """An SM2 public key: verifies as ``Ed25519PublicKey.verify`` does (raises, returns None)."""

    def __init__(self, point: bytes) -> None:
        """``point``: 04 ‖ x ‖ y, 65 bytes, on the curve; ValueError otherwise."""
        if len(point) != 65 or point[0] != 4:
            raise ValueError("SM2 public key: expected the 65-byte uncompressed point 04‖x‖y")
        try:
            self._xy = gmssl_pyx.normalize_sm2_public_key(point)
        except gmssl_pyx.InvalidValueError:
            raise ValueError("SM2 public key: the point is not on the curve") from None

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raises InvalidSignature unless ``signature`` (r ‖ s, 64 bytes) signs ``data`` under
        this key with the default ID. r and s must be in [1, n − 1] (GB/T 32918.2-2016, steps
        B1–B2), so each signature has one encoding only."""
        if len(signature) != SIGNATURE_BYTES:
            raise InvalidSignature
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (0 < r < N and 0 < s < N):
            raise InvalidSignature
        try:
            good = gmssl_pyx.sm2_verify(self._xy, data, encode_dss_signature(r, s),
                                        signer_id=DEFAULT_ID)
        except gmssl_pyx.GmsslInnerError:
            good = False
        if not good:
            raise InvalidSignature

    def public_bytes_raw(self) -> bytes:
        """04 ‖ x ‖ y, 65 bytes (GB/T 32918.1-2016 uncompressed form)."""
        return b"\x04" + self._xy

    def public_pem(self) -> str:
        """SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``), as openssl writes it."""
        body = base64.b64encode(_SPKI_PREFIX + self.public_bytes_raw()).decode("ascii")
        return f"-----BEGIN PUBLIC KEY-----\n{textwrap.fill(body, 64)}\n-----END PUBLIC KEY-----\n"


class SM2PrivateKey:
    """An SM2 signing key (use ``from_private_bytes`` or ``generate``)."""

    def __init__(self, private: bytes, public: SM2PublicKey) -> None:
        self._d = private
        self._public = public

    @classmethod
    def from_private_bytes(cls, data: bytes) -> SM2PrivateKey:
        """``data``: d, 32 bytes big-endian; ValueError unless 1 ≤ d ≤ n − 2."""
        if len(data) != 32 or not 1 <= int.from_bytes(data, "big") <= N - 2:
            raise ValueError("not an SM2 private key (32 bytes, 1 <= d <= n-2)")
        point = gmalg.SM2(pc_mode=gmalg.PC_MODE.RAW).generate_pk(data)
        return cls(bytes(data), SM2PublicKey(point))

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """A fresh key: d drawn uniformly from [1, n − 2] by the OS's CSPRNG."""
        return cls.from_private_bytes((secrets.randbelow(N - 2) + 1).to_bytes(32, "big"))

    def private_bytes_raw(self) -> bytes:
        return self._d

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        """r ‖ s, 64 bytes, with the default ID; randomised (a fresh k each call)."""
        der = gmssl_pyx.sm2_sign(self._d, self._public.public_bytes_raw()[1:], data,
                                 signer_id=DEFAULT_ID)
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signature_der(signature: bytes) -> bytes:
    """r ‖ s (64 bytes) as DER ``SEQUENCE { INTEGER r, INTEGER s }``, for openssl and GmSSL."""
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError("an SM2 signature here is 64 bytes, r ‖ s")
    return encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                int.from_bytes(signature[32:], "big"))
