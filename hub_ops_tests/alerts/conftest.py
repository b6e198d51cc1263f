from hub_ops_tests.alerts.receivers import http_receiver, smtp_server  # noqa: F401 - fixtures
