"""A transaction the database aborts as a deadlock victim is run again (issue 17.1)."""

import pytest
from django.db import OperationalError, transaction

from pipelines.locking import retry_on_deadlock
from pipelines.models import Notification


class _DeadlockDetected(Exception):
    sqlstate = "40P01"


def _victim() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = _DeadlockDetected()
    return error


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_deadlock_victim_again_without_the_first_attempts_writes_or_callbacks(owner):
    attempts, committed = [], []

    @retry_on_deadlock()
    def write() -> str:
        attempts.append(1)
        Notification.objects.create(user=owner, message=f"attempt {len(attempts)}")
        transaction.on_commit(lambda n=len(attempts): committed.append(n))
        if len(attempts) == 1:
            raise _victim()
        return "done"

    assert write() == "done"
    assert len(attempts) == 2
    assert committed == [2]
    assert list(Notification.objects.values_list("message", flat=True)) == ["attempt 2"]


@pytest.mark.django_db(transaction=True)
def test_it_retries_only_its_savepoint_inside_the_callers_transaction(owner):
    attempts = []

    @retry_on_deadlock(savepoint=True)
    def cancel_like() -> None:
        attempts.append(1)
        Notification.objects.create(user=owner, message=f"inner {len(attempts)}")
        if len(attempts) == 1:
            raise _victim()

    with transaction.atomic():
        Notification.objects.create(user=owner, message="outer")
        cancel_like()
    assert sorted(Notification.objects.values_list("message", flat=True)) == ["inner 2", "outer"]


@pytest.mark.django_db(transaction=True)
def test_it_leaves_other_errors_and_the_callers_transaction_alone(owner):
    @retry_on_deadlock()
    def broken() -> None:
        raise OperationalError("no such table")

    with pytest.raises(OperationalError):
        broken()

    calls = []

    @retry_on_deadlock()
    def nested() -> None:
        calls.append(1)
        raise _victim()

    with pytest.raises(OperationalError), transaction.atomic():
        nested()  # inside someone else's transaction: theirs to retry
    assert calls == [1]
