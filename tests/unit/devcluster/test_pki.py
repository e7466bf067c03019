"""The generated PKI must pass real TLS: the serving cert and client-certificate identities."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chatfleet.devcluster.pki import CertificateAuthority, service_account_key


def test_client_certificate_carries_user_and_groups_and_is_signed_by_the_ca() -> None:
    ca = CertificateAuthority()
    cert = x509.load_pem_x509_certificate(ca.issue_client("alice", ("system:masters", "devs")).cert_pem)

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters", "devs"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(ca.certificate)


def test_ca_is_a_ca_and_server_cert_names_loopback() -> None:
    ca = CertificateAuthority()
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = x509.load_pem_x509_certificate(ca.issue_server("s", ["localhost"], ["127.0.0.1"]).cert_pem)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_key_files_are_private(tmp_path: Path) -> None:
    cert, key = CertificateAuthority().issue_client("bob").write(tmp_path, "bob")
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert key.stat().st_mode & 0o077 == 0


def test_service_account_key_is_a_matching_rsa_pair(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    pair = service_account_key()
    private = serialization.load_pem_private_key(pair.key_pem, password=None)
    public = serialization.load_pem_public_key(pair.cert_pem)
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]


def _mutual_tls_handshake(
    tmp_path: Path, server_ca: CertificateAuthority, client_ca: CertificateAuthority
) -> str:
    """Runs a real mutual-TLS handshake on loopback; returns the client CN the server saw."""
    server_cert, server_key = server_ca.issue_server("api", ["localhost"], ["127.0.0.1"]).write(
        tmp_path, "srv"
    )
    client_cert, client_key = client_ca.issue_client("admin", ("system:masters",)).write(tmp_path, "cli")
    ca_file, _ = server_ca.key_pair.write(tmp_path, "ca")

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
    server_ctx.load_cert_chain(server_cert, server_key)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["peer"] = tls.getpeercert()
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as error:
            seen["error"] = error

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.load_cert_chain(client_cert, client_key)
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.recv(2)
    finally:
        thread.join(timeout=5)
        listener.close()
    subject = dict(item[0] for item in seen["peer"]["subject"])  # type: ignore[index]
    return subject["commonName"]


def test_mutual_tls_with_generated_certs(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    assert _mutual_tls_handshake(tmp_path, ca, ca) == "admin"


def test_client_cert_from_another_ca_is_rejected(tmp_path: Path) -> None:
    with pytest.raises((ssl.SSLError, OSError, KeyError)):
        _mutual_tls_handshake(tmp_path, CertificateAuthority(), CertificateAuthority())
