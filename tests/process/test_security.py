"""Redis with TLS and an ACL user: the documented least-privilege ACL is enough for a whole
crawl, and the password never shows in output, logs or status."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crawler.redis.embedded import server_binary
from tests.conftest import ROOT, Site, free_port, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles

PASSWORD = "n0t-in-any-log-8d1f"
ADMIN = "admin-pw-77"


def _write_cert(folder: Path, name: str, subject: str, issuer: tuple[x509.Certificate,
                ec.EllipticCurvePrivateKey] | None, ca: bool = False) -> tuple[
                    x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer[0].subject if issuer else
                     x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert, key


@pytest.fixture(scope="module")
def secure_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """redis-server with TLS only, the default user off, the documented crawler ACL user."""
    folder = tmp_path_factory.mktemp("tls")
    ca = _write_cert(folder, "ca", "Test CA", None, ca=True)
    _write_cert(folder, "server", "localhost", ca)
    documented = (ROOT / "deploy" / "redis-acl.conf").read_text()
    acl = [line.replace(">CHANGE-ME", f">{PASSWORD}") for line in documented.splitlines()
           if line.startswith("user ")]
    (folder / "users.acl").write_text(
        "\n".join([*acl, f"user admin on >{ADMIN} ~* &* +@all"]) + "\n")
    port = free_port()
    process = subprocess.Popen(
        [server_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(folder / "server.crt"), "--tls-key-file",
         str(folder / "server.key"), "--tls-ca-cert-file", str(folder / "ca.crt"),
         "--tls-auth-clients", "no", "--aclfile", str(folder / "users.acl"), "--save", "",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")])
    admin = redis.Redis(host="127.0.0.1", port=port, ssl=True, username="admin",
                        password=ADMIN, ssl_ca_certs=str(folder / "ca.crt"))
    try:
        for _ in range(100):
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None:
                    log = (folder / "redis.log").read_text()
                    if "TLS" in log and "ACL" not in log:
                        pytest.skip("this redis-server cannot serve TLS (built without it)")
                    pytest.fail(f"redis-server did not start:\n{log[-2000:]}")
                subprocess.run(["sleep", "0.05"], check=True)
        yield f"rediss://crawler:{PASSWORD}@127.0.0.1:{port}/0", folder / "ca.crt"
    finally:
        admin.close()
        process.terminate()
        process.wait(10)


def test_a_whole_crawl_runs_over_tls_under_the_documented_acl(
        secure_redis: tuple[str, Path], small_site: Site, tmp_path: Path) -> None:
    url, ca = secure_redis
    tls = {"REDIS_SSL_CA_CERTS": str(ca)}
    outputs = [run_scrapy(url, "seed", "site", "-", stdin=small_site.page(0) + "\n",
                          settings=tls)]
    log = tmp_path / "node.log"
    assert wait_all([start_node(url, log, **tls)]) == [0], log.read_text()[-3000:]
    target = tmp_path / "items.jsonl"
    outputs.append(run_scrapy(url, "export", "site", "-o", str(target), settings=tls))
    outputs.append(run_scrapy(url, "status", "site", "--json", settings=tls))
    outputs.append(run_scrapy(url, "status", "site", settings=tls))
    for result in outputs:
        assert result.returncode == 0, result.stderr
    titles = [line.split('"title": "')[1].split('"')[0] for line in target.read_text().splitlines()]
    assert sorted(titles) == sorted(expected_titles(small_site.pages))
    everything = log.read_text() + "".join(r.stdout + r.stderr for r in outputs)
    assert PASSWORD not in everything
    assert "rediss://crawler:***@127.0.0.1" in everything
    assert "NOPERM" not in everything


def test_the_crawler_user_reaches_no_other_key(secure_redis: tuple[str, Path]) -> None:
    url, ca = secure_redis
    client = redis.Redis.from_url(url, ssl_ca_certs=str(ca))
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.get("someone-elses-data")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.flushall()
    client.close()


def test_a_wrong_password_is_one_line_without_the_password(
        secure_redis: tuple[str, Path]) -> None:
    url, ca = secure_redis
    wrong = url.replace(PASSWORD, "wrong-secret-123")
    result = run_scrapy(wrong, "status", "site", settings={"REDIS_SSL_CA_CERTS": str(ca)})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Redis at rediss://crawler:***@127.0.0.1")
    assert "wrong-secret-123" not in result.stderr + result.stdout
