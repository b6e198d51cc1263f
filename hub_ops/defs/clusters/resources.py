"""The `gke` resource: GKE API clients with the environment's credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from hub_ops.settings import get_settings

if TYPE_CHECKING:
    from hub_ops.clients.gke import GkeClient


class GkeResource(dg.ConfigurableResource):
    """Clients of the GKE API (google-cloud-container, REST transport).

    `credentials`: "application_default" (workload identity in production), "access_token"
    (a short-lived OAuth token given as `access_token`, e.g. from an EnvVar), or "none"
    (the local environment: every GKE cluster is reported as having no credentials).
    """

    credentials: Literal["application_default", "access_token", "none"] = "application_default"
    access_token: str | None = Field(default=None, description="OAuth access token when credentials is access_token")
    api_endpoint: str | None = Field(default=None, description="GKE API endpoint; default container.googleapis.com")
    timeout_seconds: float = 30.0

    def get_credentials(self):
        """The google.auth Credentials to use; GkeCredentialsError (a message safe to show)
        when there are none."""
        # hub_ops.clients.gke (google-cloud-container, grpc) loads when GKE is asked, not at load
        from hub_ops.clients.gke import GkeCredentialsError, application_default_credentials

        if self.credentials == "none":
            # the local environment: HUB_OPS_ENV=production uses Application Default Credentials
            raise GkeCredentialsError("no credentials (the local environment uses none)")
        if self.credentials == "access_token":
            if not self.access_token:
                raise GkeCredentialsError("no credentials: credentials is access_token but no token is set")
            from google.oauth2.credentials import Credentials

            return Credentials(token=self.access_token)
        return application_default_credentials()

    def client(self, credentials=None) -> GkeClient:
        from hub_ops.clients.gke import GkeClient

        return GkeClient(
            credentials if credentials is not None else self.get_credentials(),
            api_endpoint=self.api_endpoint,
            timeout=self.timeout_seconds,
        )


# the local environment asks no cloud: every GKE cluster is reported as having no credentials
GKE_CREDENTIALS = {"local": "none", "production": "application_default"}


@dg.definitions
def clusters_resources() -> dg.Definitions:
    return dg.Definitions(resources={"gke": GkeResource(credentials=GKE_CREDENTIALS[get_settings().env])})
