"""A hub's JupyterHub REST API (through requests), with the hub-ops service token.

Used for health checks after a deploy (version, then start and stop a server for a check
user) and by decommissioning (no user server may be running). The token never appears in
messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # imported where a request is made: the Dagster definitions load without it
    import requests


class HubApiError(RuntimeError):
    """The hub answered with an error (the hub's own message is in the text) or not at all."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class HubApi:
    base_url: str  # .../hub/api
    token: str = field(repr=False)
    verify_tls: bool = True
    timeout: float = 10.0
    _session: requests.Session | None = field(default=None, init=False, repr=False)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["Authorization"] = f"token {self.token}"
            self._session.verify = self.verify_tls
        return self._session

    def _request(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs) -> requests.Response:
        import requests

        url = self.base_url.rstrip("/") + path
        try:
            resp = self.session.request(method, url, **({"timeout": self.timeout} | kwargs))
        except requests.RequestException as e:
            raise HubApiError(f"{method} {url}: no answer ({type(e).__name__})") from None
        if resp.status_code not in ok:
            raise HubApiError(f"{method} {url}: {resp.status_code} {_hub_message(resp)}", resp.status_code)
        return resp

    def version(self) -> str:
        return self._request("GET", "/").json().get("version", "?")

    def check_token(self) -> dict[str, Any]:
        """Who the token is (a 403 here means the token is wrong: `/` answers without auth)."""
        return self._request("GET", "/user").json()

    def user(self, name: str) -> dict[str, Any] | None:
        resp = self._request("GET", f"/users/{quote(name)}", ok=(200, 404))
        return resp.json() if resp.status_code == 200 else None

    def ensure_user(self, name: str) -> None:
        self._request("POST", f"/users/{quote(name)}", ok=(201, 409))

    def start_server(self, name: str, timeout: float = 120, poll: float = 0.5) -> float:
        """Start `name`'s default server and wait until it is ready. Returns seconds taken."""
        start = time.monotonic()
        # the hub holds this answer until the spawn ends or slow_spawn_timeout (10 s) passes
        self._request("POST", f"/users/{quote(name)}/server", ok=(201, 202, 400), timeout=self.timeout + 20)
        while True:
            user = self.user(name) or {}
            server = (user.get("servers") or {}).get("")
            if server and server.get("ready"):
                return time.monotonic() - start
            if not server and not user.get("pending") and time.monotonic() - start > 2:
                raise HubApiError(f"server of {name} stopped before it was ready")
            if time.monotonic() - start > timeout:
                raise HubApiError(f"server of {name} not ready after {timeout:.0f} s (pending: {user.get('pending')})")
            time.sleep(poll)

    def stop_server(self, name: str, timeout: float = 60, poll: float = 0.5) -> float:
        start = time.monotonic()
        self._request("DELETE", f"/users/{quote(name)}/server", ok=(202, 204, 400))
        while True:
            user = self.user(name) or {}
            if not (user.get("servers") or {}).get("") and not user.get("pending"):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise HubApiError(f"server of {name} still running after {timeout:.0f} s")
            time.sleep(poll)

    def users(self, state: str | None = None, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every user model (name, last_activity, servers with started/last_activity/ready),
        page by page (JupyterHub's pagination; a hub older than 2.0 answers one list)."""
        offset = 0
        while True:
            params = {"offset": offset, "limit": page_size} | ({"state": state} if state else {})
            body = self._request(
                "GET", "/users", params=params, headers={"Accept": "application/jupyterhub-pagination+json"}
            ).json()
            if isinstance(body, list):  # no pagination support
                yield from body
                return
            yield from body.get("items", [])
            following = (body.get("_pagination") or {}).get("next")
            if not following:
                return
            offset = following["offset"]

    def set_activity(self, name: str, last_activity: str, servers: dict[str, str] | None = None) -> None:
        """Record activity of a user (and of their servers) at ISO times, as a server's own
        activity report does (POST /users/{name}/activity)."""
        body: dict[str, Any] = {"last_activity": last_activity}
        if servers:
            body["servers"] = {server: {"last_activity": when} for server, when in servers.items()}
        self._request("POST", f"/users/{quote(name)}/activity", ok=(200,), json=body)

    def running_servers(self) -> list[dict[str, Any]]:
        """Every running or pending server: user, server name, last activity."""
        out = []
        for u in self.users(state="active"):
            for server_name, server in (u.get("servers") or {}).items():
                out.append(
                    {
                        "user": u["name"],
                        "server": server_name,
                        "ready": server.get("ready"),
                        "last_activity": server.get("last_activity"),
                    }
                )
        return out

    def users_active_since(self, days: int) -> int:
        """How many users were active in the last `days` days (the hub's last_activity)."""
        import datetime as dt

        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        count = 0
        for u in self.users():
            seen = u.get("last_activity")
            if seen and dt.datetime.fromisoformat(seen.replace("Z", "+00:00")) >= cutoff:
                count += 1
        return count


def _hub_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return (resp.text or resp.reason or "")[:300]
