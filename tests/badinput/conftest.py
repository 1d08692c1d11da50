from tests.security.conftest import execution_delay_seconds, owned  # noqa: F401 (fixtures)
