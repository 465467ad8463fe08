"""The development PKI and the CRL-backed revocation list, without a server."""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange_service.security.revocation import RevocationList
from exchange_service.tools import pki

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
AGENCIES = ("imigrasi-tarempa", "polres-anambas", "pemkab-anambas")


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_pki(out_dir: Path, agencies: tuple[str, ...] = AGENCIES) -> pki.DevPki:
    return pki.create_dev_pki(out_dir, agencies, now=datetime.now(UTC))


def ca_of(dev: pki.DevPki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return pki.load_certificate(dev.ca_cert), pki.load_private_key(dev.ca_key)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def bump_mtime(path: Path, seconds: int = 10) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def cert_with_sans(names: list[x509.GeneralName] | None) -> x509.Certificate:
    """A self-signed certificate with the given SAN entries (None: no SAN extension)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "polres-anambas")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


# --- create_dev_pki -----------------------------------------------------------------


def test_all_files_are_created_with_private_modes(tmp_path: Path) -> None:
    out = tmp_path / "var" / "pki"
    dev = make_pki(out)

    assert mode(out) == 0o700
    expected = {"ca.crt", "ca.key", "ca.crl", "server.crt", "server.key"}
    expected |= {f"{agency}.{ext}" for agency in AGENCIES for ext in ("crt", "key")}
    assert {p.name for p in out.iterdir()} == expected
    assert set(dev.created) == {out / name for name in expected}
    for path in out.iterdir():
        assert mode(path) == (0o600 if path.suffix == ".key" else 0o644), path
    assert dev.agency_cert("polres-anambas") == out / "polres-anambas.crt"
    with pytest.raises(KeyError):
        dev.agency_cert("not-ours")


def test_files_are_pem_and_keys_unencrypted_pkcs8_p256(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")

    for key_path in (dev.ca_key, dev.server_key, dev.agency_key("polres-anambas")):
        text = key_path.read_text()
        assert text.startswith("-----BEGIN PRIVATE KEY-----\n"), key_path  # PKCS#8, clear
        key = serialization.load_pem_private_key(text.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
    assert dev.crl.read_text().startswith("-----BEGIN X509 CRL-----\n")
    ca_cert, _ = ca_of(dev)
    crl = x509.load_pem_x509_crl(dev.crl.read_bytes())
    assert crl.issuer == ca_cert.subject
    assert crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
    assert len(crl) == 0


def test_chain_every_leaf_is_signed_by_the_ca_which_is_a_ca(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, _ = ca_of(dev)

    constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    ca_cert.verify_directly_issued_by(ca_cert)
    for path in [dev.server_cert, *(dev.agency_cert(a) for a in AGENCIES)]:
        leaf = pki.load_certificate(path)
        leaf.verify_directly_issued_by(ca_cert)  # raises if not
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)


def test_server_certificate_names_and_usage(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    cert = pki.load_certificate(dev.server_cert)

    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == []
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert pki.agency_id_from_certificate(cert) is None


def test_agency_certificate_names_and_usage(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    cert = pki.load_certificate(dev.agency_cert("pemkab-anambas"))

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pemkab-anambas"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Pantau"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("spiffe://pantau/agency/pemkab-anambas")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert pki.agency_id_from_certificate(cert) == "pemkab-anambas"


def test_validity_follows_now_and_valid_days(tmp_path: Path) -> None:
    dev = pki.create_dev_pki(tmp_path / "pki", ["polres-anambas"], now=NOW, valid_days=30)
    cert = pki.load_certificate(dev.agency_cert("polres-anambas"))

    assert cert.not_valid_before_utc == NOW - pki.CLOCK_SKEW
    assert cert.not_valid_after_utc == NOW + timedelta(days=30)
    crl = x509.load_pem_x509_crl(dev.crl.read_bytes())
    assert crl.next_update_utc == NOW + timedelta(days=30)


def test_second_run_reuses_the_ca_and_keeps_existing_certificates(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    first = make_pki(out, ("polres-anambas",))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    ca_fingerprint = fingerprint(pki.load_certificate(first.ca_cert))

    again = make_pki(out, ("polres-anambas",))
    assert again.created == ()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    more = make_pki(out, ("polres-anambas", "imigrasi-tarempa"))
    assert set(more.created) == {out / "imigrasi-tarempa.crt", out / "imigrasi-tarempa.key"}
    ca_cert = pki.load_certificate(more.ca_cert)
    assert fingerprint(ca_cert) == ca_fingerprint
    pki.load_certificate(more.agency_cert("imigrasi-tarempa")).verify_directly_issued_by(ca_cert)
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name


def test_a_missing_file_is_issued_again_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    dev = make_pki(out)
    old_serial = pki.load_certificate(dev.server_cert).serial_number
    dev.server_key.unlink()

    again = make_pki(out)
    assert set(again.created) == {dev.server_cert, dev.server_key}
    assert pki.load_certificate(dev.server_cert).serial_number != old_serial


def test_changed_server_names_reissue_only_the_server_certificate(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    make_pki(out)
    dev = pki.create_dev_pki(
        out, AGENCIES, server_names=("localhost", "pantau.local"), server_ips=("127.0.0.1", "::1")
    )

    assert set(dev.created) == {dev.server_cert, dev.server_key}
    san = pki.load_certificate(dev.server_cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost", "pantau.local"]
    assert [str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "::1",
    ]


def test_a_ca_without_its_key_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    dev = make_pki(out)
    ca_bytes = dev.ca_cert.read_bytes()
    dev.ca_key.unlink()

    with pytest.raises(ValueError, match=r"only one of ca\.crt and ca\.key"):
        make_pki(out)
    assert dev.ca_cert.read_bytes() == ca_bytes


def test_existing_revocations_survive_a_second_run(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    dev = make_pki(out)
    ca_cert, ca_key = ca_of(dev)
    serial = pki.load_certificate(dev.agency_cert("polres-anambas")).serial_number
    pki.revoke(out, ca_cert, ca_key, [serial])

    make_pki(out)
    crl = x509.load_pem_x509_crl(dev.crl.read_bytes())
    assert [entry.serial_number for entry in crl] == [serial]


@pytest.mark.parametrize("bad", ["ca", "server", "Polres", "-x", "x", "a/b", "a" * 64, ""])
def test_bad_or_reserved_agency_ids_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="agency id"):
        pki.create_dev_pki(tmp_path / "pki", ["polres-anambas", bad])
    assert not (tmp_path / "pki").exists()


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        pki.create_ca("x", now=datetime(2026, 1, 1))  # noqa: DTZ001


# --- issuing single certificates -------------------------------------------------


def test_expired_certificate_can_be_issued_with_past_dates(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    now = datetime.now(UTC)

    cert, key = pki.issue_client_certificate(
        ca_cert,
        ca_key,
        "polres-anambas",
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )
    assert cert.not_valid_after_utc == (now - timedelta(days=1)).replace(microsecond=0)
    assert cert.not_valid_after_utc < now
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(ca_cert)
    assert pki.agency_id_from_certificate(cert) == "polres-anambas"


def test_issuing_refuses_reversed_dates_and_a_mismatched_ca_key() -> None:
    ca_cert, ca_key = pki.create_ca("Test CA", now=NOW)
    _, other_key = pki.create_ca("Other CA", now=NOW)

    with pytest.raises(ValueError, match="later"):
        pki.issue_client_certificate(
            ca_cert, ca_key, "polres-anambas", not_before=NOW, not_after=NOW
        )
    with pytest.raises(ValueError, match="does not belong"):
        pki.issue_client_certificate(
            ca_cert,
            other_key,
            "polres-anambas",
            not_before=NOW,
            not_after=NOW + timedelta(days=1),
        )


# --- agency_id_from_certificate -----------------------------------------------------


@pytest.mark.parametrize(
    ("sans", "expected"),
    [
        (
            [x509.UniformResourceIdentifier("spiffe://pantau/agency/polres-anambas")],
            "polres-anambas",
        ),
        (
            [
                x509.DNSName("polres.example"),
                x509.UniformResourceIdentifier("https://polres.example/"),
                x509.UniformResourceIdentifier("spiffe://pantau/agency/polres-anambas"),
            ],
            "polres-anambas",
        ),
        (None, None),
        ([x509.DNSName("polres-anambas")], None),
        (
            [
                x509.UniformResourceIdentifier("spiffe://pantau/agency/polres-anambas"),
                x509.UniformResourceIdentifier("spiffe://pantau/agency/imigrasi-tarempa"),
            ],
            None,
        ),
        ([x509.UniformResourceIdentifier("spiffe://pantau/agency/Polres")], None),
        ([x509.UniformResourceIdentifier("spiffe://pantau/agency/polres/admin")], None),
        ([x509.UniformResourceIdentifier("spiffe://pantau/agency/polres\n")], None),
        ([x509.UniformResourceIdentifier("spiffe://pantau/agency/")], None),
        ([x509.UniformResourceIdentifier("spiffe://other/agency/polres-anambas")], None),
    ],
)
def test_agency_id_comes_only_from_one_well_formed_san_uri(
    sans: list[x509.GeneralName] | None, expected: str | None
) -> None:
    assert pki.agency_id_from_certificate(cert_with_sans(sans)) == expected


# --- revocation ---------------------------------------------------------------------


def test_revoked_serial_is_revoked_and_others_are_not(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    police = pki.load_certificate(dev.agency_cert("polres-anambas"))
    immigration = pki.load_certificate(dev.agency_cert("imigrasi-tarempa"))

    before = RevocationList(dev.crl, dev.ca_cert)
    assert not before.is_revoked(police)

    pki.revoke(dev.out_dir, ca_cert, ca_key, [police.serial_number])
    revocations = RevocationList(dev.crl, dev.ca_cert)
    assert revocations.is_revoked(police)
    assert revocations.is_revoked_pem(dev.agency_cert("polres-anambas").read_bytes())
    assert not revocations.is_revoked(immigration)
    assert not revocations.is_revoked_pem(dev.agency_cert("imigrasi-tarempa").read_bytes())
    assert revocations.revoked_serials == {police.serial_number}
    assert revocations.crl_number == 2


def test_revoke_keeps_earlier_revocations_and_their_dates(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    first, second = NOW - timedelta(days=2), NOW - timedelta(days=1)

    pki.revoke(dev.crl, ca_cert, ca_key, [11, 12], now=first)
    pki.revoke(dev.crl, ca_cert, ca_key, [12, 13], now=second)

    crl = x509.load_pem_x509_crl(dev.crl.read_bytes())
    dates = {entry.serial_number: entry.revocation_date_utc for entry in crl}
    assert dates == {11: first, 12: first, 13: second}
    assert pki.crl_number(crl) == 3
    assert crl.next_update_utc == second + timedelta(days=365)
    assert crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]


def test_revoke_refuses_to_extend_a_foreign_crl(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    foreign_cert, foreign_key = pki.create_ca(now=NOW)  # same name, other key
    pki.write_pem(dev.crl, pki.create_crl(foreign_cert, foreign_key, [(7, NOW)], now=NOW))
    foreign_bytes = dev.crl.read_bytes()

    with pytest.raises(ValueError, match="signature"):
        pki.revoke(dev.crl, ca_cert, ca_key, [8])
    assert dev.crl.read_bytes() == foreign_bytes


def test_a_crl_from_a_foreign_ca_with_another_name_is_refused(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    foreign_cert, foreign_key = pki.create_ca("Foreign CA", now=NOW)
    pki.write_pem(dev.crl, pki.create_crl(foreign_cert, foreign_key, now=NOW))

    with pytest.raises(ValueError, match="issuer"):
        RevocationList(dev.crl, dev.ca_cert)


def test_a_crl_signed_by_another_key_under_the_same_name_is_refused(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, _ = ca_of(dev)
    impostor_cert, impostor_key = pki.create_ca(now=NOW)
    assert impostor_cert.subject == ca_cert.subject
    pki.write_pem(dev.crl, pki.create_crl(impostor_cert, impostor_key, now=NOW))

    with pytest.raises(ValueError, match="signature does not verify"):
        RevocationList(dev.crl, dev.ca_cert)


def test_a_certificate_of_another_ca_counts_as_revoked(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    other_cert, other_key = pki.create_ca(now=NOW)  # same name: caught by key identifier
    stranger, _ = pki.issue_client_certificate(
        other_cert,
        other_key,
        "polres-anambas",
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
    )

    assert RevocationList(dev.crl, dev.ca_cert).is_revoked(stranger)


def test_a_changed_crl_is_reloaded_after_the_check_interval(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    police = pki.load_certificate(dev.agency_cert("polres-anambas"))
    clock = FakeClock()
    revocations = RevocationList(dev.crl, dev.ca_cert, check_interval=1.0, clock=clock)
    assert not revocations.is_revoked(police)

    pki.revoke(dev.crl, ca_cert, ca_key, [police.serial_number])
    bump_mtime(dev.crl)
    clock.now += 0.5
    assert not revocations.is_revoked(police)  # not looked at again yet
    clock.now += 0.6
    assert revocations.is_revoked(police)
    assert revocations.crl_number == 2


def test_an_unchanged_file_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = make_pki(tmp_path / "pki")
    clock = FakeClock()
    revocations = RevocationList(dev.crl, dev.ca_cert, check_interval=1.0, clock=clock)
    reads: list[Path] = []
    real_read_bytes = Path.read_bytes

    def counting_read_bytes(self: Path) -> bytes:
        reads.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counting_read_bytes)
    for _ in range(5):
        clock.now += 2
        revocations.revoked_serials  # noqa: B018
    assert reads == []

    bump_mtime(dev.crl)
    clock.now += 2
    revocations.revoked_serials  # noqa: B018
    assert reads == [dev.crl]


def test_a_bad_replacement_keeps_the_list_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    pki.revoke(dev.crl, ca_cert, ca_key, [42])
    clock = FakeClock()
    revocations = RevocationList(dev.crl, dev.ca_cert, clock=clock)
    impostor_cert, impostor_key = pki.create_ca(now=NOW)

    pki.write_pem(dev.crl, pki.create_crl(impostor_cert, impostor_key, now=NOW, number=9))
    bump_mtime(dev.crl)
    clock.now += 2
    with caplog.at_level(logging.ERROR):
        assert revocations.revoked_serials == {42}
    assert "signature does not verify" in caplog.text

    pki.write_pem(dev.crl, pki.create_crl(ca_cert, ca_key, [(43, NOW)], now=NOW, number=1))
    bump_mtime(dev.crl, 20)
    clock.now += 2
    assert revocations.revoked_serials == {42}  # older CRL number: refused
    assert "lower than" in caplog.text

    dev.crl.unlink()
    clock.now += 2
    assert revocations.revoked_serials == {42}

    pki.write_pem(dev.crl, pki.create_crl(ca_cert, ca_key, [(42, NOW), (44, NOW)], number=3))
    clock.now += 2
    assert revocations.revoked_serials == {42, 44}


def test_a_stale_crl_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    serial = pki.load_certificate(dev.agency_cert("polres-anambas")).serial_number
    long_ago = datetime.now(UTC) - timedelta(days=10)
    pki.revoke(dev.crl, ca_cert, ca_key, [serial], now=long_ago, valid_days=1)

    with caplog.at_level(logging.WARNING):
        revocations = RevocationList(dev.crl, dev.ca_cert)
    assert "out of date" in caplog.text
    assert revocations.is_revoked_pem(dev.agency_cert("polres-anambas").read_bytes())
    assert not revocations.is_revoked_pem(dev.agency_cert("imigrasi-tarempa").read_bytes())


def test_a_stale_crl_is_refreshed_by_the_next_dev_pki_run(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    pki.revoke(
        dev.crl, ca_cert, ca_key, [5], now=datetime.now(UTC) - timedelta(days=3), valid_days=1
    )

    again = make_pki(dev.out_dir)
    assert again.created == (dev.crl,)
    crl = x509.load_pem_x509_crl(dev.crl.read_bytes())
    assert crl.next_update_utc is not None
    assert crl.next_update_utc > datetime.now(UTC)
    assert [entry.serial_number for entry in crl] == [5]


def test_a_non_pem_peer_certificate_is_an_error(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    revocations = RevocationList(dev.crl, dev.ca_cert)

    with pytest.raises(ValueError, match="PEM"):
        revocations.is_revoked_pem(b"not a certificate")


def test_lookups_from_many_threads_during_reloads(tmp_path: Path) -> None:
    dev = make_pki(tmp_path / "pki")
    ca_cert, ca_key = ca_of(dev)
    police = pki.load_certificate(dev.agency_cert("polres-anambas"))
    revocations = RevocationList(dev.crl, dev.ca_cert, check_interval=0.0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def look_up() -> None:
        try:
            while not stop.is_set():
                revocations.is_revoked(police)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for serial in range(1000, 1020):
            pki.revoke(dev.crl, ca_cert, ca_key, [serial])
        pki.revoke(dev.crl, ca_cert, ca_key, [police.serial_number])
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert errors == []
    assert revocations.is_revoked(police)
    assert revocations.revoked_serials == {*range(1000, 1020), police.serial_number}
    assert revocations.crl_number == 1 + 21  # the first CRL, then one per revoke
