"""The asymmetric option: JWT_ALGORITHM=EdDSA with JWT_PRIVATE_KEY signs the GraphQL dialect's JWTs, and
GET /.well-known/jwks.json publishes the public key that verifies them offline; HS256 publishes nothing."""

from __future__ import annotations

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import ClientFactory
from tests.graphql.helpers import ME, claims, gql, seed_user, sign_in
from tests.support.api import bearer
from tests.support.contract import ContractClient


async def test_an_eddsa_key_signs_and_the_jwks_verifies_offline(make_client: ClientFactory) -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    client = await make_client(jwt_algorithm="EdDSA", jwt_private_key=pem)
    await seed_user(client)
    access, _ = await sign_in(client)
    header = jwt.get_unverified_header(access)
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT"
    published = await client.get("/.well-known/jwks.json")
    assert published.status == 200
    (key,) = published.json()["keys"]
    assert key["kid"] == header["kid"] and "d" not in key
    verified = jwt.decode(access, jwt.PyJWK(key).key, algorithms=["EdDSA"])
    assert verified["jti"] == claims(access)["jti"]
    assert (await client.get("/api/me", headers=bearer(access))).status == 200  # still a row-backed token
    assert (await gql(client, ME, token=access)).json()["data"]["me"]["username"] == "user"


async def test_hs256_publishes_no_key(client: ContractClient) -> None:
    published = await client.get("/.well-known/jwks.json")
    assert published.status == 200 and published.json() == {"keys": []}
