"""Which seal signs the printed license (media/seal.py), from the settings.

- ``LICENSE_SEALER=pades`` (the default): a PAdES signature by the issuing authority's key
  and certificate, ``LICENSE_SEAL_PKCS12`` or ``LICENSE_SEAL_KEY`` + ``LICENSE_SEAL_CERT``
  (+ ``LICENSE_SEAL_CHAIN``), unlocked by ``LICENSE_SEAL_PASSPHRASE``. In development and
  tests, with none of them set, a development CA and an authority certificate are made once
  on this machine under ``var/seal/`` (never in the repository); production refuses to start
  without its own, or with those.
- ``LICENSE_SEALER=package.module:factory``: ``factory(settings)`` returns a
  ``media.seal.Sealer``. The province's seal server (OFD sealed with SM2 under GB/T 38540)
  plugs in here without a change to the code that issues licenses.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEV_DIRECTORY = Path(__file__).resolve().parents[2] / "var" / "seal"
# in every development certificate's subject: production refuses a seal that carries it
DEV_ORGANIZATION = "一业一证开发环境（非正式，不得用于生产）"
PADES = "pades"
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
CREDENTIALS = ("LICENSE_SEAL_PKCS12", "LICENSE_SEAL_KEY", "LICENSE_SEAL_CERT",
               "LICENSE_SEAL_CHAIN")


@dataclass(frozen=True)
class Authority:
    """PEM files of a made certificate authority and the seal it certified."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "seal-cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "seal-key.pem"

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.ca_cert, self.cert, self.key))


def development_authority(directory: Path = DEV_DIRECTORY) -> Authority:
    """The development CA and seal of this machine, made at first use (`make run`, the test
    tooling): ECDSA P-256 keys, the CA valid ten years, the seal five. Production refuses
    them (:func:`is_development`)."""
    return ensure_authority(directory, organization=DEV_ORGANIZATION,
                            ca_name="一业一证开发用根证书", seal_name="一业一证开发用发证机关印章")


def ensure_authority(directory: Path, *, organization: str, ca_name: str,
                     seal_name: str) -> Authority:
    """The authority in ``directory``, made there by :func:`make_authority` if absent.

    Several processes starting at once make theirs apart and one rename wins; the others use
    the winner's. A half-deleted directory is refused (delete it to start afresh).
    """
    authority = Authority(directory)
    if authority.complete():
        return authority
    if directory.exists():
        raise RuntimeError(f"{directory} is incomplete: delete it to make new seal "
                           "certificates")
    return make_authority(directory, organization=organization, ca_name=ca_name,
                          seal_name=seal_name)


def make_authority(directory: Path, *, organization: str, ca_name: str,
                   seal_name: str) -> Authority:
    """A new CA and a seal certificate it issues (key usage digitalSignature and
    nonRepudiation), written to ``directory`` at once (a directory rename): if another
    process wrote it first, that one is kept."""
    now = datetime.now(UTC) - timedelta(days=1)  # a clock a little behind still accepts it
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name(ca_name, organization)
    ca = (_builder(ca_subject, ca_subject, ca_key.public_key(), now, years=10)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = (_builder(_name(seal_name, organization), ca_subject, seal_key.public_key(), now,
                     years=5)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True, content_commitment=True),
                           critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}-{uuid.uuid4().hex}"
    staging.mkdir(mode=0o700)
    made = Authority(staging)
    made.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    made.cert.write_bytes(seal.public_bytes(serialization.Encoding.PEM))
    made.key.touch(mode=0o600)
    made.key.write_bytes(seal_key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    try:
        os.rename(staging, directory)
    except OSError:  # made meanwhile by another process: keep that one
        shutil.rmtree(staging, ignore_errors=True)
        if not Authority(directory).complete():
            raise
    return Authority(directory)


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key, start: datetime, *,
             years: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=365 * years))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                           critical=False))


def _usage(**allowed: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
    return x509.KeyUsage(**{n: allowed.get(n, False) for n in names},
                         encipher_only=False, decipher_only=False)


def is_development(cert: x509.Certificate) -> bool:
    """Made by :func:`development_authority` (its organisation names it), here or elsewhere."""
    return any(attribute.value == DEV_ORGANIZATION
               for name in (cert.subject, cert.issuer)
               for attribute in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def factory(spec: str) -> Callable[[Any], Any]:
    """The callable a ``package.module:factory`` LICENSE_SEALER names; ValueError if none."""
    if not _FACTORY.fullmatch(spec):
        raise ValueError(f"must be {PADES} or package.module:factory, not {spec!r}")
    module, name = spec.split(":")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{spec!r} cannot be imported: {error}") from None
    if not callable(found):
        raise ValueError(f"{spec!r} is not callable")
    return found


def settings_problem(values: Mapping[str, Any], *, production: bool) -> str | None:
    """Why the seal settings cannot run, or None: LICENSE_SEALER names pades or an importable
    factory; credentials that are set load; production (pades) has the authority's own, not
    the development ones."""
    if values["LICENSE_SEALER"] != PADES:
        try:
            factory(values["LICENSE_SEALER"])
        except ValueError as error:
            return f"LICENSE_SEALER {error}"
        return None
    if not any(values[name] for name in CREDENTIALS):
        return ("production requires the issuing authority's seal: LICENSE_SEAL_PKCS12, or "
                "LICENSE_SEAL_KEY and LICENSE_SEAL_CERT (development makes its own under "
                "var/seal/, which production refuses)") if production else None
    from media.seal import SealCredentialsError  # noqa: PLC0415 - pyHanko, when checked

    try:
        signer = load(values)
    except SealCredentialsError as error:
        return str(error)
    if production and is_development(
            x509.load_der_x509_certificate(signer.signing_cert.dump())):
        return ("the seal's certificate is a development one (var/seal/): production "
                "seals with the issuing authority's own")
    return None


def load(values: Mapping[str, Any]) -> Any:
    """The pyHanko signer of the configured LICENSE_SEAL_* credentials."""
    from media import seal  # noqa: PLC0415 - pyHanko, only where a seal is made or checked

    return seal.load_signer(pkcs12_path=values["LICENSE_SEAL_PKCS12"],
                            key_path=values["LICENSE_SEAL_KEY"],
                            cert_path=values["LICENSE_SEAL_CERT"],
                            chain_path=values["LICENSE_SEAL_CHAIN"],
                            passphrase=values["LICENSE_SEAL_PASSPHRASE"])


def sealer_from_settings(settings) -> Any:
    """The ``media.seal.Sealer`` the settings name (checked at load by
    :func:`settings_problem`)."""
    if settings.LICENSE_SEALER != PADES:
        return factory(settings.LICENSE_SEALER)(settings)
    from media import seal  # noqa: PLC0415 - pyHanko, only where a license is sealed

    values = settings.values
    if any(values[name] for name in CREDENTIALS):
        signer = load(values)
    else:
        authority = development_authority()
        signer = seal.load_signer(key_path=str(authority.key), cert_path=str(authority.cert),
                                  chain_path=str(authority.ca_cert))
    return seal.PadesSealer(signer, timestamp_url=settings.LICENSE_SEAL_TIMESTAMP_URL,
                            font_path=settings.LICENSE_FONT_PATH or None)
