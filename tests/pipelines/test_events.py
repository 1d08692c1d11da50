import pytest
from django.db import transaction

from pipelines import events, tasks
from pipelines.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handler_calls():
    calls: list[tuple[str, int]] = []
    yield calls
    events._subscriptions.pop("testTopic", None)


def test_it_dispatches_after_commit_and_records_the_handler(handler_calls):
    events.subscribe("testTopic", lambda e: handler_calls.append(("h", e.pk)), name="tests.h")
    with transaction.atomic():
        event = events.publish("testTopic", "thing_happened", {"x": 1})
        assert handler_calls == []  # not before commit
    assert handler_calls == [("h", event.pk)]
    event.refresh_from_db()
    assert event.handled_by == ["tests.h"]
    assert event.delivered


def test_it_drops_the_event_when_the_publisher_rolls_back(handler_calls):
    events.subscribe("testTopic", lambda e: handler_calls.append(("h", e.pk)), name="tests.h")
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish("testTopic", "thing_happened", {"x": 1})
        raise RuntimeError("publisher failed")
    assert handler_calls == []
    assert Event.objects.count() == 0


def test_it_retries_a_failing_handler_as_a_task_without_failing_the_publisher(handler_calls):
    def flaky(event):
        handler_calls.append(("flaky", event.pk))
        if len(handler_calls) == 1:
            raise ConnectionError("listener down")

    events.subscribe("testTopic", flaky, name="tests.flaky")
    events.subscribe("testTopic", lambda e: handler_calls.append(("ok", e.pk)), name="tests.ok")
    event = events.publish("testTopic", "thing_happened", {})
    event.refresh_from_db()
    assert [c[0] for c in handler_calls] == ["flaky", "ok", "flaky"]  # the retry task ran inline (sync)
    assert sorted(event.handled_by) == ["tests.flaky", "tests.ok"]
    assert event.delivered
    assert event.failures == 1


def test_it_leaves_an_event_to_the_sweep_after_the_quick_retries(handler_calls, monkeypatch):
    monkeypatch.setattr(tasks, "retry_delay", lambda failures: 0.0)  # the pauses (3.75 s in all) are not the point

    def broken(event):
        handler_calls.append(("broken", event.pk))
        if len(handler_calls) <= events.MAX_DISPATCH_FAILURES:
            raise ConnectionError("listener down")

    events.subscribe("testTopic", broken, name="tests.broken")
    event = events.publish("testTopic", "thing_happened", {})
    event.refresh_from_db()
    assert len(handler_calls) == events.MAX_DISPATCH_FAILURES
    assert not event.delivered
    assert event.failures == events.MAX_DISPATCH_FAILURES
    assert tasks.sweep()["events_redelivered"] == 1  # never given up: the outage is over, the sweep delivers
    event.refresh_from_db()
    assert event.delivered
    assert event.handled_by == ["tests.broken"]


def test_the_sweep_redelivers_an_event_lost_between_commit_and_dispatch(handler_calls):
    events.subscribe("testTopic", lambda e: handler_calls.append(("h", e.pk)), name="tests.h")
    lost = Event.objects.create(topic="testTopic", type="thing_happened", payload={}, delivered=False)
    assert tasks.sweep()["events_redelivered"] == 1
    lost.refresh_from_db()
    assert handler_calls == [("h", lost.pk)]
    assert lost.delivered
    assert tasks.sweep()["events_redelivered"] == 0
    assert len(handler_calls) == 1


def test_it_wakes_the_execution_and_deployment_groups():
    import uuid

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    deployment_id = uuid.uuid4()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"deployment-{deployment_id}", channel)
    event = events.publish("otherTopic", "x", {}, deployment_id=deployment_id)
    message = async_to_sync(layer.receive)(channel)
    assert message == {"type": "event.wakeup", "id": event.pk}
