"""Stand-in for Google's token-signing keys, for tests of the production verification path.

firebase-admin fetches X.509 certificates from Google over HTTPS and checks RS256 signatures with them. Here
the key pair is ours and only the HTTP response is replaced; parsing, signature and claim checks are the
library's own.
"""

import datetime as dt
import json
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

ISSUER_PREFIX = "https://securetoken.google.com/"


class GoogleKeys:
    def __init__(self, kid: str = "naevus-test-key"):
        self.kid = kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        self.certs_json = json.dumps({kid: cert.public_bytes(serialization.Encoding.PEM).decode()}).encode()
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._signer = crypt.RSASigner.from_string(pem, key_id=kid)
        self._pem = pem.decode()

    def service_account(self, project_id: str) -> dict:
        """A service-account file as the Firebase console issues it. firebase-admin insists on a credential
        outside the emulator even though verifying a token only needs Google's public keys."""
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": self.kid,
            "private_key": self._pem,
            "client_email": f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }

    def id_token(self, *, project_id: str, uid: str, email: str = "", email_verified: bool = True,
                 issued_ago_s: int = 0, lifetime_s: int = 3600, **overrides) -> str:  # fmt: skip
        """An ID token shaped like the ones Firebase issues (claims as the Auth emulator issues them)."""
        iat = int(time.time()) - issued_ago_s
        claims = {
            "iss": ISSUER_PREFIX + project_id,
            "aud": project_id,
            "auth_time": iat,
            "user_id": uid,
            "sub": uid,
            "iat": iat,
            "exp": iat + lifetime_s,
            "email": email,
            "email_verified": email_verified,
            "firebase": {"identities": {"email": [email]}, "sign_in_provider": "password"},
        } | overrides
        return jwt.encode(self._signer, claims).decode()

    def certificate_response(self, request: requests.PreparedRequest) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = self.certs_json
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        response.url = request.url
        response.request = request
        return response
