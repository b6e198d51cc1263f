"""`hub-ops alerts test [--route NAME]` sends a test message through each route and says
what each answered; `hub-ops validate` checks the alerts block."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops_tests.alerts.fleets import HMAC_KEY, SLACK_TOKEN, write_alerts
from hub_ops_tests.conftest import REPO


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def routes(url: str) -> list[dict]:
    return [
        {
            "name": "ops-slack",
            "slack": {"webhook": "alerts.secret.yaml#slack_webhook"},
            "match": {"severity": ["error"]},
        },
        {"name": "pager", "webhook": {"url": f"{url}/pager", "secret": "alerts.secret.yaml#hmac"}},
        {"name": "broken", "webhook": {"url": f"{url}/broken"}},
    ]


def test_alerts_test_sends_through_every_route_and_reports_each_answer(example_fleet, http_receiver):
    write_alerts(
        example_fleet,
        {"routes": routes(http_receiver.url)},
        {"slack_webhook": f"{http_receiver.url}/slack/{SLACK_TOKEN}", "hmac": HMAC_KEY},
    )
    http_receiver.status["/broken"] = 500
    result = run("--fleet", str(example_fleet), "alerts", "test")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ops-slack (slack): ok: HTTP 200 ok",
        "pager (webhook): ok: HTTP 200 ok",
        "broken (webhook): FAILED: HTTP 500 server error",
    ]
    assert SLACK_TOKEN not in result.output
    [slack] = http_receiver.at(f"/slack/{SLACK_TOKEN}")
    assert "[INFO] Test: hub-ops alerts test: this route works" in slack.json()["text"]
    [pager] = http_receiver.at("/pager")
    assert pager.json()["event"] == "test" and pager.headers["X-Hub-Ops-Signature-256"].startswith("sha256=")


def test_alerts_test_one_route(example_fleet, http_receiver):
    write_alerts(
        example_fleet,
        {"routes": routes(http_receiver.url)},
        {"slack_webhook": f"{http_receiver.url}/slack/{SLACK_TOKEN}", "hmac": HMAC_KEY},
    )
    result = run("--fleet", str(example_fleet), "alerts", "test", "--route", "pager")
    assert (result.exit_code, result.stdout) == (0, "pager (webhook): ok: HTTP 200 ok\n")
    assert [r.path for r in http_receiver.requests] == ["/pager"]
    unknown = CliRunner().invoke(main, ["--fleet", str(example_fleet), "alerts", "test", "--route", "pagr"])
    assert unknown.exit_code == 1
    assert "no route pagr in fleet.yaml alerts (routes: ops-slack, pager, broken)" in unknown.output


def test_validate_names_a_missing_alerts_secret_file(example_fleet):
    write_alerts(
        example_fleet,
        {
            "routes": [
                {"name": "pager", "webhook": {"url": "https://x.example.org", "secret": "alerts.secret.yaml#hmac"}}
            ]
        },
    )
    result = CliRunner().invoke(main, ["--fleet", str(example_fleet), "validate"])
    assert result.exit_code == 1
    assert "fleet.yaml:" in result.stderr
    assert "alerts.routes[0].webhook.secret: file not found: alerts.secret.yaml" in result.stderr


def test_the_alerts_library_and_its_command_import_no_dagster(example_fleet, http_receiver):
    """hub_ops.alerts is library code: `hub-ops alerts test` runs without Dagster or pandas."""
    write_alerts(example_fleet, {"routes": [{"name": "pager", "webhook": {"url": f"{http_receiver.url}/pager"}}]})
    script = (
        "import sys\n"
        "from hub_ops.cli import main\n"
        "try:\n"
        f"    main(['--fleet', {str(example_fleet)!r}, 'alerts', 'test'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'pandas', 'gcsfs', 'kubernetes'}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
    assert len(http_receiver.at("/pager")) == 1
