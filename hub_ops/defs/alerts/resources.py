"""How alerts are delivered (the routes themselves are fleet.yaml's `alerts:` block)."""

from __future__ import annotations

import ssl

import dagster as dg


class AlertDeliveryResource(dg.ConfigurableResource):
    """Delivery settings: backoff between attempts (fleet.yaml sets how many), per-request
    timeout, and an extra CA file for an SMTP server with a private certificate."""

    backoff_s: float = 0.5
    timeout_s: float = 10.0
    smtp_ca_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.smtp_ca_file) if self.smtp_ca_file else None


@dg.definitions
def alerts_resources() -> dg.Definitions:
    return dg.Definitions(resources={"alert_delivery": AlertDeliveryResource()})
