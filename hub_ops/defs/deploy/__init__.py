"""The deploy domain: hub_releases, deploy_job, deploy_on_push, the drift check. The
library is hub_ops.deploy."""
