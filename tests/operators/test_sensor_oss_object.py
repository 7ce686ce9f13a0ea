"""OSSObjectSensor and OSSObjectTrigger against the emulator over real HTTP.

Poke mode through ``execute`` (the same loop the task runner drives), the trigger's ``run()`` in
an asyncio loop, its serialisation, and bad arguments. The deferrable path under a real
triggerer is in ``test_sensor_deferrable_deployment.py``.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import json
import threading
import time

import pytest

from oss_provider._compat import AirflowFailException, AirflowSensorTimeout, TaskDeferred
from oss_provider.client.checksums import crc64
from oss_provider.sensors.oss_object import OSSObjectSensor
from oss_provider.triggers.oss_object import OSSObjectTrigger

pytestmark = pytest.mark.timeout(60)


def _later(seconds, fn, *args):
    timer = threading.Timer(seconds, fn, args)
    timer.start()
    return timer


def _sensor(bucket, **kwargs):
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 15)
    return OSSObjectSensor(task_id="wait", bucket_name=bucket, **kwargs)


def test_poke_waits_for_an_object_that_appears_later(oss_conn_env, oss_client, oss_bucket):
    data = b"hello sensor" * 1000
    timer = _later(1.0, oss_client.put_object, oss_bucket, "in/data.bin", data)
    started = time.monotonic()
    try:
        meta = _sensor(oss_bucket, key="in/data.bin", expected_crc64=str(crc64(data))).execute({})
    finally:
        timer.cancel()
    assert time.monotonic() - started >= 0.9  # it did wait
    head = oss_client.head_object(oss_bucket, "in/data.bin")
    assert meta == {
        "bucket": oss_bucket,
        "key": "in/data.bin",
        "size": len(data),
        "etag": head.etag,
        "crc64": crc64(data),
        "last_modified": head.last_modified.isoformat(),
    }
    assert datetime.datetime.fromisoformat(meta["last_modified"]).tzinfo is not None
    json.dumps(meta)  # XCom-able as is


@pytest.mark.parametrize(
    ("check", "words"),
    [
        ({"expected_size": 999}, "its size is 10 bytes, expected 999"),
        ({"expected_crc64": 12345}, "its CRC-64 is"),
        ({"expected_etag": '"0123ABCD"'}, "expected 0123ABCD"),
    ],
)
def test_mismatch_keeps_waiting_then_times_out_saying_why(
    oss_conn_env, oss_client, oss_bucket, check, words
):
    oss_client.put_object(oss_bucket, "k.bin", b"0123456789")
    sensor = _sensor(oss_bucket, key="k.bin", timeout=1.0, **check)
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor.execute({})
    assert time.monotonic() - started >= 1.0
    message = str(info.value)
    assert f"oss://{oss_bucket}/k.bin exists but" in message and words in message, message


def test_missing_object_times_out_naming_it(oss_conn_env, oss_bucket):
    with pytest.raises(AirflowSensorTimeout, match="does not exist yet"):
        _sensor(oss_bucket, key="never.bin", timeout=0.5).execute({})


def test_glob_waits_for_min_objects_and_returns_them_all(oss_conn_env, oss_client, oss_bucket):
    oss_client.put_object(oss_bucket, "exports/a.csv", b"a")
    oss_client.put_object(oss_bucket, "exports/skip.txt", b"x")
    timers = [
        _later(0.6, oss_client.put_object, oss_bucket, "exports/b.csv", b"bb"),
        _later(1.2, oss_client.put_object, oss_bucket, "exports/c.csv", b"ccc"),
    ]
    try:
        found = _sensor(
            oss_bucket, key="exports/*.csv", wildcard_match=True, min_objects="3"
        ).execute({})
    finally:
        for timer in timers:
            timer.cancel()
    assert [(o["key"], o["size"]) for o in found] == [
        ("exports/a.csv", 1),
        ("exports/b.csv", 2),
        ("exports/c.csv", 3),
    ]
    assert all(o["bucket"] == oss_bucket and o["etag"] for o in found)
    assert all(isinstance(o["last_modified"], str) for o in found)


def test_prefix_with_oss_url(oss_conn_env, oss_client, oss_bucket):
    oss_client.put_object(oss_bucket, "p/1", b"1")
    found = OSSObjectSensor(task_id="w", prefix=f"oss://{oss_bucket}/p/", timeout=5).execute({})
    assert [o["key"] for o in found] == ["p/1"]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "exactly one of key"),
        ({"key": "a", "prefix": "b"}, "exactly one of key"),
        ({"prefix": "b", "wildcard_match": True}, "needs a glob in key"),
        ({"key": "a", "wildcard_match": "yes"}, "wildcard_match must be True or False"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs, words):
    with pytest.raises((ValueError, TypeError), match=words):
        OSSObjectSensor(task_id="w", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"key": "a", "min_objects": 2}, "min_objects applies to a glob"),
        ({"prefix": "p/", "expected_size": 3}, "use them with an exact key"),
        ({"key": "x*", "wildcard_match": True, "expected_crc64": 1}, "exact key"),
        ({"key": "a", "expected_crc64": "-1"}, "expected_crc64"),
        ({"key": "a", "expected_crc64": str(2**64)}, "unsigned 64-bit"),
        ({"key": "a", "expected_size": "ten"}, "expected_size must be a whole number"),
        ({"key": "a", "min_objects": 0}, "min_objects must be >= 1"),
        ({"key": "oss://other/a"}, "names bucket 'other' but bucket_name is"),
    ],
)
def test_bad_rendered_arguments_fail_at_once_without_a_request(
    oss_conn_env, oss_emulator, oss_bucket, kwargs, words
):
    oss_emulator.reset_stats()
    sensor = _sensor(oss_bucket, timeout=30, deferrable=True, **kwargs)
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match=words):
        sensor.execute({})
    assert time.monotonic() - started < 5
    assert not oss_emulator.stats().get("requests"), oss_emulator.stats()


def test_missing_bucket_fails_at_once(oss_conn_env):
    sensor = _sensor("no-such-bucket-here", key="a", timeout=30)
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="NoSuchBucket") as info:
        sensor.execute({})
    assert time.monotonic() - started < 5
    assert "oss://no-such-bucket-here/a" in str(info.value)  # OSS's message names no bucket


# -- deferrable -------------------------------------------------------------------------------


def test_deferrable_returns_at_once_when_the_object_is_there(oss_conn_env, oss_client, oss_bucket):
    oss_client.put_object(oss_bucket, "here.bin", b"x")
    meta = _sensor(oss_bucket, key="here.bin", deferrable=True).execute({})
    assert meta["key"] == "here.bin" and meta["size"] == 1


def test_deferrable_defers_with_a_serialisable_trigger(oss_conn_env, oss_emulator, oss_bucket):
    sensor = _sensor(oss_bucket, key="later.bin", deferrable=True, timeout=120, poke_interval=7)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout > datetime.timedelta(seconds=120)  # the trigger times out first
    classpath, kwargs = deferred.trigger.serialize()
    text = json.dumps(kwargs)  # JSON-able, and no secret in it
    assert oss_emulator.access_key_secret not in text and oss_emulator.access_key_id not in text
    assert kwargs["oss_conn_id"] == "oss_multipart_default"
    assert kwargs["poke_interval"] == 7
    assert 100 < kwargs["deadline"] - time.time() <= 120
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(text))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.wait.key == "later.bin" and rebuilt.wait.bucket == oss_bucket


def test_execute_complete_turns_events_into_results_and_failures(oss_conn_env, oss_bucket):
    sensor = _sensor(oss_bucket, key="k", deferrable=True)
    meta = {"bucket": oss_bucket, "key": "k", "size": 1}
    assert sensor.execute_complete({}, {"status": "success", "value": meta}) == meta
    with pytest.raises(AirflowSensorTimeout, match="does not exist yet"):
        sensor.execute_complete(
            {}, {"status": "timeout", "message": "oss://b/k does not exist yet"}
        )
    with pytest.raises(AirflowFailException, match="AccessDenied"):
        sensor.execute_complete({}, {"status": "error", "message": "AccessDenied: no"})


def _run_trigger(trigger, *, during=None):
    """Run ``trigger.run()`` to its first event; meanwhile count 20 ms ticks of the loop."""

    async def main():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.02)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        if during is not None:
            asyncio.get_running_loop().call_later(*during)
        started = time.monotonic()
        try:
            event = await asyncio.wait_for(anext(trigger.run()), 30)
        finally:
            stop.set()
            await tick_task
            await trigger.cleanup()
        return event, ticks, time.monotonic() - started

    return asyncio.run(main())


def test_trigger_fires_when_the_object_appears_without_blocking_the_loop(
    oss_conn_env, oss_emulator, oss_client, oss_bucket
):
    data = b"trigger" * 100
    sensor = _sensor(oss_bucket, key="t/obj.bin", expected_size=len(data), deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    _, kwargs = info.value.trigger.serialize()
    trigger = OSSObjectTrigger(**{**kwargs, "poke_interval": 0.2})
    # every HeadObject answer now takes 0.5 s: a blocking call in the loop would stop the ticker
    oss_emulator.fail_next(3, "slow", "HeadObject", delay_seconds=0.5)

    def put():
        threading.Thread(target=oss_client.put_object, args=(oss_bucket, "t/obj.bin", data)).start()

    event, ticks, took = _run_trigger(trigger, during=(1.0, put))
    assert event.payload["status"] == "success", event.payload
    assert event.payload["value"]["size"] == len(data)
    assert event.payload["value"]["crc64"] == crc64(data)
    assert took >= 1.0
    assert ticks >= 0.6 * took / 0.02, (ticks, took)  # the loop kept turning throughout


def test_trigger_times_out_with_the_last_reason(oss_conn_env, oss_client, oss_bucket):
    oss_client.put_object(oss_bucket, "small.bin", b"abc")
    wait = {"bucket": oss_bucket, "key": "small.bin", "expected_size": 4}
    trigger = OSSObjectTrigger(
        wait=wait, oss_conn_id="oss_multipart_default", poke_interval=0.2, deadline=time.time() + 1
    )
    event, _, took = _run_trigger(trigger)
    assert event.payload["status"] == "timeout"
    assert "its size is 3 bytes, expected 4" in event.payload["message"]
    assert 0.9 <= took < 5


def test_trigger_reports_a_permanent_error(oss_conn_env):
    trigger = OSSObjectTrigger(
        wait={"bucket": "no-such-bucket-here", "key": "k"}, oss_conn_id="oss_multipart_default"
    )
    event, _, took = _run_trigger(trigger)
    assert event.payload["status"] == "error" and "NoSuchBucket" in event.payload["message"]
    assert took < 5


@pytest.mark.parametrize(
    "wait",
    [{"key": "k"}, {"prefix": "in/"}, {"key": "in/*.csv", "wildcard_match": True}],
    ids=["key", "prefix", "glob"],
)
def test_deferrable_missing_bucket_message_names_the_bucket(oss_conn_env, wait):
    bucket = "no-such-bucket-here"
    trigger = OSSObjectTrigger(wait={"bucket": bucket, **wait}, oss_conn_id="oss_multipart_default")
    where = trigger.wait.describe()
    event, _, _ = _run_trigger(trigger)
    assert event.payload["status"] == "error"
    message = event.payload["message"]
    assert message.startswith(f"oss://{bucket}/") and "NoSuchBucket" in message, message
    # the task's failure says it once, as poke mode does
    sensor = _sensor(bucket, deferrable=True, **wait)
    with pytest.raises(AirflowFailException) as info:
        sensor.execute_complete({}, event.payload)
    assert str(info.value).count(where) == 1 and "NoSuchBucket" in str(info.value), info.value
