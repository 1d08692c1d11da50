"""The chart's web pods take client addresses from X-Forwarded-For only via TRUSTED_PROXIES, never the web
server's ``--proxy-headers`` (which believes any client; budportal.serve passes uvicorn ``--no-proxy-headers``)."""

from tests.production.test_chart_install import CHART, _docs, _pod_spec, _template


def _web(helm_binary: str, *args: str) -> dict:
    docs = _docs(_template(helm_binary, "-f", str(CHART / "ci" / "test-values.yaml"), *args))
    web = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("budportal"))
    return _pod_spec(web)["containers"][0]


def test_it_runs_the_web_server_without_proxy_headers_and_passes_trusted_proxies(helm_binary) -> None:
    container = _web(helm_binary, "--set", "settings.trustedProxies=10.244.0.0/16\\,fd00::/8")

    assert "--proxy-headers" not in container["args"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["TRUSTED_PROXIES"] == "10.244.0.0/16,fd00::/8"


def test_it_trusts_no_proxy_by_default(helm_binary) -> None:
    env = {item["name"]: item.get("value") for item in _web(helm_binary)["env"]}
    assert env["TRUSTED_PROXIES"] == ""


def test_it_refuses_a_trusted_proxies_value_that_is_no_cidr_list(helm_binary) -> None:
    result = _template(
        helm_binary, "-f", str(CHART / "ci" / "test-values.yaml"), "--set", "settings.trustedProxies=10.0.0.0/8;rm -rf"
    )
    assert result.returncode != 0
    assert "trustedProxies" in result.stderr
