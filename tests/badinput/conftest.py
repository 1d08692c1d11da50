from tests.security.conftest import execution_delay_seconds, owned  # noqa: F401 (fixtures)
from tests.usecases.deployments.conftest import call, catalog, deploy_settings, sandbox  # noqa: F401 (fixtures)
