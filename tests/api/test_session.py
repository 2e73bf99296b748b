"""Browser sign-in: a server-side session whose opaque id sits in an HttpOnly cookie,
honoured for reads only."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_page_without_key_redirects_a_browser_to_login(client: TestClient) -> None:
    response = client.get("/maps", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fmaps"


def test_api_client_without_key_still_gets_401_json(client: TestClient) -> None:
    response = client.get("/maps", follow_redirects=False)
    assert response.status_code == 401
    assert response.json()["error"] == "auth_required"


def test_login_with_unknown_key_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"key": "gl_wrong"}, follow_redirects=False)
    assert response.status_code == 401
    assert "密钥无效" in response.text
    assert "gridlink_session" not in response.cookies


def test_login_sets_an_httponly_cookie_that_opens_map_pages(
    client: TestClient, keys: dict[str, str]
) -> None:
    response = client.post("/login", data={"key": keys["viewer"], "next": "/maps"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/maps"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/maps", headers=HTML).status_code == 200


def test_cookie_is_not_accepted_for_writes(client: TestClient, keys: dict[str, str]) -> None:
    client.post("/login", data={"key": keys["admin"]}, follow_redirects=False)
    response = client.post("/admin/keys", json={"name": "x", "role": "viewer"})
    assert response.status_code == 401


def test_login_never_redirects_to_another_host(client: TestClient, keys: dict[str, str]) -> None:
    response = client.post("/login", data={"key": keys["viewer"], "next": "//evil.example/"},
                           follow_redirects=False)
    assert response.headers["location"] == "/maps"


def test_logout_forgets_the_cookie(client: TestClient, keys: dict[str, str]) -> None:
    client.post("/login", data={"key": keys["viewer"]}, follow_redirects=False)
    client.post("/logout", follow_redirects=False)
    assert client.get("/maps", follow_redirects=False).status_code == 401


def test_key_revoked_through_the_api_stops_working_at_once(
    client: TestClient, keys: dict[str, str]
) -> None:
    viewer = {"X-API-Key": keys["viewer"]}
    assert client.get("/maps", headers=viewer).status_code == 200  # now cached as valid
    revoked = client.delete(f"/admin/keys/{keys['viewer'][:7]}",
                            headers={"X-API-Key": keys["admin"]})
    assert revoked.status_code == 200 and revoked.json()["revoked"] >= 1
    response = client.get("/maps", headers=viewer)
    assert response.status_code == 401
    assert response.json()["message"] == "the API key is unknown or revoked"


def test_home_page_leads_to_the_maps(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/maps"


def _sign_in(client: TestClient, key: str) -> str:
    response = client.post("/login", data={"key": key}, follow_redirects=False)
    assert response.status_code == 303
    return response.cookies["gridlink_session"]


def test_cookie_holds_an_opaque_session_id_never_the_key(
        client: TestClient, db: Session, keys: dict[str, str]) -> None:
    response = client.post("/login", data={"key": keys["viewer"]}, follow_redirects=False)
    session_id = response.cookies["gridlink_session"]
    assert keys["viewer"] not in response.headers["set-cookie"]
    assert keys["viewer"][3:] not in session_id and session_id.startswith("gls_")
    assert len(session_id) == 4 + 43  # 32 random bytes, URL-safe base64
    stored = db.execute(text("SELECT s.token_hash, k.name, s.expires_at - s.created_at "
                             "FROM browser_sessions s JOIN api_keys k ON k.id = s.key_id")).one()
    assert stored[0] == hashlib.sha256(session_id.encode()).hexdigest()
    assert (stored[1], stored[2]) == ("test viewer", timedelta(hours=12))
    assert "gridlink_key" not in response.cookies


def test_logout_ends_the_session_on_the_server(client: TestClient,
                                               keys: dict[str, str]) -> None:
    session_id = _sign_in(client, keys["viewer"])
    client.post("/logout", follow_redirects=False)
    client.cookies.set("gridlink_session", session_id)
    replay = client.get("/maps")
    assert replay.status_code == 401


def test_expired_session_is_refused(client: TestClient, db: Session,
                                    keys: dict[str, str]) -> None:
    _sign_in(client, keys["viewer"])
    db.execute(text("UPDATE browser_sessions SET expires_at = now() - interval '1 second'"))
    db.commit()
    assert client.get("/maps", headers=HTML, follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(client: TestClient, db: Session,
                                            keys: dict[str, str]) -> None:
    _sign_in(client, keys["viewer"])
    client.delete(f"/admin/keys/{keys['viewer'][:7]}", headers={"X-API-Key": keys["admin"]})
    assert db.scalar(text("SELECT revoked_at IS NOT NULL FROM browser_sessions")) is True
    assert client.get("/maps").status_code == 401


def test_a_key_in_the_cookie_or_a_session_id_in_the_header_is_refused(
        client: TestClient, keys: dict[str, str]) -> None:
    client.cookies.set("gridlink_session", keys["admin"])
    assert client.get("/maps").status_code == 401
    client.cookies.clear()
    session_id = _sign_in(client, keys["admin"])
    client.cookies.clear()
    response = client.get("/maps", headers={"X-API-Key": session_id})
    assert response.status_code == 401
    assert response.json()["message"] == "a browser session id is not an API key"


def test_login_page_is_the_template_with_next_escaped(client: TestClient) -> None:
    page = client.get("/login", params={"next": '/maps?a="><script>x</script>'})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'value="/maps?a=&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in page.text
    assert "<script>" not in page.text and 'name="key"' in page.text
