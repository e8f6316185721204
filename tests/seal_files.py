"""Seal credentials for tests: a production-like authority (not a development one), made once
under var/ like the development seal, and its PKCS#12 file."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from backend.security.seals import Authority, ensure_authority
from config.settings import PROJECT_ROOT

PASSPHRASE = "p12-test-passphrase"


def province_authority() -> Authority:
    """A CA and seal that production accepts, as a province's CA would issue them."""
    return ensure_authority(PROJECT_ROOT / "var" / "test-seal",
                            organization="山西省测试电子认证中心", ca_name="测试根证书",
                            seal_name="太原市小店区行政审批服务管理局")


def pkcs12_file(authority: Authority, passphrase: str = PASSPHRASE) -> str:
    """The authority's key, certificate and CA certificate as one PKCS#12 file."""
    path = authority.directory / "seal.p12"
    if not path.is_file():
        key = serialization.load_pem_private_key(authority.key.read_bytes(), None)
        data = pkcs12.serialize_key_and_certificates(
            b"seal", key, _cert(authority.cert), [_cert(authority.ca_cert)],
            serialization.BestAvailableEncryption(passphrase.encode()))
        staging = path.with_name(f".seal-{id(data)}.p12")
        staging.write_bytes(data)
        staging.replace(path)  # at once: another test process may read it
    return str(path)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def production_env() -> dict[str, str]:
    """LICENSE_SEAL_* of a production environment that starts."""
    authority = province_authority()
    return {"LICENSE_SEAL_KEY": str(authority.key), "LICENSE_SEAL_CERT": str(authority.cert),
            "LICENSE_SEAL_CHAIN": str(authority.ca_cert)}
